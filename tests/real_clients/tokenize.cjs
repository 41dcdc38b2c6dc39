// transformers.js's tokenizer, offline, on a model directory we saved.
//   node tokenize.cjs MODELS_ROOT NAME INPUT.json OUTPUT.json
// INPUT: [{"text": "...", "pair": "..." (optional)}, ...]
// OUTPUT: [{"input_ids": [...], "token_type_ids": [...]}, ...] in the same order.
// NODE_PATH names tools/node_clients/node_modules (see tests/real_clients_test.cc).
'use strict';
const fs = require('fs');
const { env, AutoTokenizer } = require('@huggingface/transformers');

async function main() {
  const [root, name, inputPath, outputPath] = process.argv.slice(2);
  env.allowRemoteModels = false;
  env.localModelPath = root;
  env.useFSCache = false;
  const tokenizer = await AutoTokenizer.from_pretrained(name);
  const inputs = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
  const outputs = inputs.map(({ text, pair }) => {
    const options = { return_tensor: false };
    if (pair !== undefined) options.text_pair = pair;
    const encoded = tokenizer(text, options);
    return { input_ids: encoded.input_ids, token_type_ids: encoded.token_type_ids };
  });
  fs.writeFileSync(outputPath, JSON.stringify(outputs));
}

main().catch((error) => {
  console.error(`tokenize.cjs: ${error.stack || error}`);
  process.exit(1);
});
