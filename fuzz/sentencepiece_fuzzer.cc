// The sentencepiece model loader (models/tokenizers/sentencepiece_tokenizer.h, via Debian's
// libsentencepiece) on arbitrary bytes; a model that loads then encodes and decodes a mixed
// text. Errors are expected; crashes, uncaught exceptions, out-of-bounds reads and leaks
// are bugs (in our bridge, or reported upstream when inside the library).
//
// SENTENCEPIECE_FUZZER_WRITE_SEEDS=DIR trains a tiny unigram and a tiny BPE model (identity
// normalization, so a few KB each) into DIR
// (how fuzz/seeds/sentencepiece/ was made) and exits.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "fuzz/in_memory_file.h"
#include "models/tokenizers/sentencepiece_tokenizer.h"

namespace {

void WriteSeeds(const std::string& dir) {
  const std::string corpus = dir + "/corpus.txt";
  {
    std::ofstream out(corpus);
    for (int i = 0; i < 40; ++i) {
      out << "The quick brown fox " << i << " jumps over the lazy dog, said Dr. Smith.\n"
          << "Une phrase en français, avec des accents: été, naïve; 日本語のテキスト.\n";
    }
  }
  for (const char* type : {"unigram", "bpe"}) {
    tokenizers::SentencePieceTrainOptions options;
    options.input_files = {corpus};
    options.model_prefix = dir + "/" + type;
    options.vocab_size = 100;
    options.model_type = type;
    options.character_coverage = 1.0;
    options.hard_vocab_limit = false;
    options.normalization_rule_name = "identity";  // Small seeds: no normalizer charsmap.
    const absl::Status trained = tokenizers::TrainSentencePiece(options);
    if (!trained.ok()) {
      std::fprintf(stderr, "%s\n", std::string(trained.message()).c_str());
      std::exit(1);
    }
    std::remove((options.model_prefix + ".vocab").c_str());
  }
  std::remove(corpus.c_str());
  std::exit(0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (const char* dir = std::getenv("SENTENCEPIECE_FUZZER_WRITE_SEEDS")) WriteSeeds(dir);
  fuzz::InMemoryFile file(data, size);
  auto tokenizer = tokenizers::SentencePieceTokenizer::Load(file.path());
  if (!tokenizer.ok()) return 0;
  const tokenizers::Encoding encoding =
      (*tokenizer)->Encode("The naïve fox, 日本語 and [MASK] tokens: 42!");
  (void)(*tokenizer)->Decode(encoding.ids, /*skip_special_tokens=*/true);
  (void)(*tokenizer)->Decode(encoding.ids, /*skip_special_tokens=*/false);
  for (int64_t id = -1; id <= (*tokenizer)->vocab_size(); ++id) (void)(*tokenizer)->IdToToken(id);
  return 0;
}
