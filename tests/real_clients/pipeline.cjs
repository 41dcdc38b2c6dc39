// A transformers.js pipeline, offline, on a model directory we saved (its onnx/model.onnx).
//   node pipeline.cjs text-classification MODELS_ROOT NAME INPUT.json OUTPUT.json
//     INPUT: ["text", ...]; OUTPUT: [{"label": "...", "score": p}, ...] (the top label each).
//   node pipeline.cjs question-answering MODELS_ROOT NAME INPUT.json OUTPUT.json
//     INPUT: [{"question": "...", "context": "..."}, ...];
//     OUTPUT: [{"answer": "...", "score": p}, ...] (the top answer each).
'use strict';
const fs = require('fs');
const { env, pipeline } = require('@huggingface/transformers');

async function main() {
  const [task, root, name, inputPath, outputPath] = process.argv.slice(2);
  env.allowRemoteModels = false;
  env.localModelPath = root;
  env.useFSCache = false;
  const run = await pipeline(task, name, {
    dtype: 'fp32',
    session_options: { intraOpNumThreads: 1, interOpNumThreads: 1 },
  });
  const inputs = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
  const outputs = [];
  for (const input of inputs) {
    if (task === 'question-answering') {
      outputs.push(await run(input.question, input.context));
    } else {
      const [top] = await run(input);
      outputs.push(top);
    }
  }
  fs.writeFileSync(outputPath, JSON.stringify(outputs));
}

main().catch((error) => {
  console.error(`pipeline.cjs: ${error.stack || error}`);
  process.exit(1);
});
