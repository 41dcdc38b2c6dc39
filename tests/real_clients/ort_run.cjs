// ONNX Runtime (onnxruntime-node, CPU) on an ONNX file we exported.
//   node ort_run.cjs MODEL.onnx INPUTS.json OUTPUTS.json
// INPUTS: {"dims": [batch, seq], "input_ids": [flat int], "attention_mask": [...],
//          "token_type_ids": [...]}; only the inputs the graph declares are fed.
// OUTPUTS: {"<output name>": {"dims": [...], "data": [flat float]}, ...}
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, inputPath, outputPath] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const inputs = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
  const feeds = {};
  for (const name of session.inputNames) {
    if (!(name in inputs)) throw new Error(`${inputPath}: no values for graph input '${name}'`);
    feeds[name] = new ort.Tensor('int64', BigInt64Array.from(inputs[name], BigInt), inputs.dims);
  }
  const results = await session.run(feeds);
  const outputs = {};
  for (const name of session.outputNames) {
    outputs[name] = { dims: results[name].dims, data: Array.from(results[name].data) };
  }
  fs.writeFileSync(outputPath, JSON.stringify(outputs));
}

main().catch((error) => {
  console.error(`ort_run.cjs: ${error.stack || error}`);
  process.exit(1);
});
