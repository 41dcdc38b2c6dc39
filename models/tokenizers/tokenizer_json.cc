#include "models/tokenizers/tokenizer_json.h"

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "models/tokenizers/vocab.h"

namespace tokenizers {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;  // Written in Hugging Face's key order.

// The special tokens by their tokenizer_config.json / special_tokens_map.json role.
struct SpecialRole {
  const char* role;
  std::string BertTokenizerOptions::*token;
};
constexpr SpecialRole kSpecialRoles[] = {
    {"unk_token", &BertTokenizerOptions::unk_token},
    {"sep_token", &BertTokenizerOptions::sep_token},
    {"pad_token", &BertTokenizerOptions::pad_token},
    {"cls_token", &BertTokenizerOptions::cls_token},
    {"mask_token", &BertTokenizerOptions::mask_token},
};

// A JSON value for an error message, cut short so the message stays one line.
std::string Shown(const Json& value) {
  std::string shown = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
  return shown;
}

OrderedJson AddedToken(int64_t id, const std::string& content) {
  return {{"id", id},          {"content", content}, {"single_word", false},
          {"lstrip", false},   {"rstrip", false},    {"normalized", false},
          {"special", true}};
}

// (id, token) of the five specials in id order, each once.
std::vector<std::pair<int64_t, std::string>> SpecialsById(const BertTokenizer& tokenizer) {
  std::vector<std::pair<int64_t, std::string>> specials;
  for (const SpecialRole& special : kSpecialRoles) {
    const std::string& token = tokenizer.options().*special.token;
    specials.emplace_back(tokenizer.TokenToId(token), token);
  }
  std::sort(specials.begin(), specials.end());
  specials.erase(std::unique(specials.begin(), specials.end()), specials.end());
  return specials;
}

OrderedJson Template(const std::string& cls, const std::string& sep, bool pair) {
  auto special = [](const std::string& id, int type_id) {
    return OrderedJson{{"SpecialToken", {{"id", id}, {"type_id", type_id}}}};
  };
  auto sequence = [](const char* id, int type_id) {
    return OrderedJson{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
  };
  OrderedJson steps = {special(cls, 0), sequence("A", 0), special(sep, 0)};
  if (pair) {
    steps.push_back(sequence("B", 1));
    steps.push_back(special(sep, 1));
  }
  return steps;
}

// The error for a field whose value BertTokenizer has no counterpart for.
absl::Status Unsupported(absl::string_view source, absl::string_view field, const Json& value,
                         absl::string_view supported) {
  return absl::UnimplementedError(absl::StrCat(source, ": ", field, " ", Shown(value),
                                               " is not supported (", supported, ")"));
}

absl::Status WrongType(absl::string_view source, absl::string_view field, const Json& value,
                       absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": ", field, " must be ", expected, ", got ", Shown(value)));
}

// Reads the string `object[key]` into `out` when present; errors on another type.
absl::Status OptionalString(const Json& object, const char* key, absl::string_view source,
                            absl::string_view field, std::string* out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) return WrongType(source, field, *it, "a string");
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status OptionalBool(const Json& object, const char* key, absl::string_view source,
                          absl::string_view field, bool* out) {
  auto it = object.find(key);
  if (it == object.end()) return absl::OkStatus();
  if (!it->is_boolean()) return WrongType(source, field, *it, "true or false");
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadNormalizer(const Json& json, absl::string_view source,
                            BertTokenizerOptions* options) {
  auto it = json.find("normalizer");
  if (it == json.end() || !it->is_object()) {
    return Unsupported(source, "normalizer", it == json.end() ? Json() : *it,
                       "only BertNormalizer");
  }
  const Json& normalizer = *it;
  const Json type = normalizer.value("type", Json());
  if (type != "BertNormalizer") {
    return Unsupported(source, "normalizer.type", type, "only BertNormalizer");
  }
  bool clean_text = true;
  RETURN_IF_ERROR(OptionalBool(normalizer, "clean_text", source, "normalizer.clean_text",
                               &clean_text));
  if (!clean_text) {
    return Unsupported(source, "normalizer.clean_text", false, "BertTokenizer always cleans");
  }
  RETURN_IF_ERROR(OptionalBool(normalizer, "lowercase", source, "normalizer.lowercase",
                               &options->do_lower_case));
  RETURN_IF_ERROR(OptionalBool(normalizer, "handle_chinese_chars", source,
                               "normalizer.handle_chinese_chars",
                               &options->tokenize_chinese_chars));
  auto strip = normalizer.find("strip_accents");
  if (strip != normalizer.end() && !strip->is_null()) {
    if (!strip->is_boolean()) {
      return WrongType(source, "normalizer.strip_accents", *strip, "true, false or null");
    }
    options->strip_accents = strip->get<bool>();
  }
  return absl::OkStatus();
}

// cls / sep from a TemplateProcessing or BertProcessing post processor.
absl::Status ReadPostProcessor(const Json& json, absl::string_view source,
                               BertTokenizerOptions* options) {
  auto it = json.find("post_processor");
  if (it == json.end() || it->is_null()) return absl::OkStatus();
  const Json type = it->is_object() ? it->value("type", Json()) : *it;
  if (type == "BertProcessing") {
    for (const auto& [key, token] : {std::pair{"cls", &options->cls_token},
                                     std::pair{"sep", &options->sep_token}}) {
      const Json value = it->value(key, Json());
      if (!value.is_array() || value.empty() || !value[0].is_string()) {
        return WrongType(source, absl::StrCat("post_processor.", key), value,
                         "[token, id]");
      }
      *token = value[0].get<std::string>();
    }
    return absl::OkStatus();
  }
  if (type != "TemplateProcessing") {
    return Unsupported(source, "post_processor.type", type,
                       "TemplateProcessing or BertProcessing");
  }
  // Only BERT's template: [CLS] $A [SEP].
  const Json single = it->value("single", Json());
  auto special_id = [](const Json& step) -> const Json* {
    auto special = step.find("SpecialToken");
    if (special == step.end() || !special->is_object()) return nullptr;
    auto id = special->find("id");
    return id != special->end() && id->is_string() ? &*id : nullptr;
  };
  if (!single.is_array() || single.size() != 3 || !single[1].contains("Sequence") ||
      special_id(single[0]) == nullptr || special_id(single[2]) == nullptr) {
    return Unsupported(source, "post_processor.single", single,
                       "only BERT's [CLS] A [SEP] template");
  }
  options->cls_token = special_id(single[0])->get<std::string>();
  options->sep_token = special_id(single[2])->get<std::string>();
  return absl::OkStatus();
}

// tokenizer_config.json's *_token fields: a string, or an AddedToken object's content.
absl::Status ReadConfigSpecials(absl::string_view config_json, absl::string_view source,
                                BertTokenizerOptions* options) {
  if (config_json.empty()) return absl::OkStatus();
  const Json config = Json::parse(config_json.begin(), config_json.end(), nullptr,
                                  /*allow_exceptions=*/false);
  if (!config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": tokenizer_config.json is not a JSON object"));
  }
  for (const SpecialRole& special : kSpecialRoles) {
    auto it = config.find(special.role);
    if (it == config.end() || it->is_null()) continue;
    const Json content = it->is_object() ? it->value("content", Json()) : *it;
    if (!content.is_string()) {
      return WrongType(source, absl::StrCat("tokenizer_config.json ", special.role), *it,
                       "a string or {\"content\": string}");
    }
    options->*special.token = content.get<std::string>();
  }
  return absl::OkStatus();
}

// Every added token must be one of the specials, at its vocabulary id.
absl::Status CheckAddedTokens(const Json& json, const Vocab& vocab,
                              const BertTokenizerOptions& options, absl::string_view source) {
  auto it = json.find("added_tokens");
  if (it == json.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return WrongType(source, "added_tokens", *it, "a list");
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& added = (*it)[i];
    const std::string field = absl::StrCat("added_tokens[", i, "]");
    if (!added.is_object() || !added.value("content", Json()).is_string()) {
      return WrongType(source, field, added, "an object with a string 'content'");
    }
    const std::string content = added["content"].get<std::string>();
    const bool special = std::any_of(
        std::begin(kSpecialRoles), std::end(kSpecialRoles),
        [&](const SpecialRole& role) { return options.*role.token == content; });
    if (!special) {
      return Unsupported(source, field + ".content", content,
                         "added tokens other than unk/sep/pad/cls/mask");
    }
    const Json id = added.value("id", Json());
    const std::optional<int64_t> vocab_id = vocab.Find(content);
    if (id.is_number_integer() && vocab_id && id.get<int64_t>() != *vocab_id) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", field, ".id ", Shown(id),
                                                     " differs from \"", content,
                                                     "\"'s id ", *vocab_id, " in model.vocab"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> TokenizerJson(const BertTokenizer& tokenizer) {
  const BertTokenizerOptions& options = tokenizer.options();
  if (!options.never_split.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer.json cannot express never_split (", options.never_split.size(),
        " words, first \"", options.never_split.front(), "\")"));
  }
  OrderedJson added = OrderedJson::array();
  for (const auto& [id, token] : SpecialsById(tokenizer)) added.push_back(AddedToken(id, token));
  OrderedJson vocab = OrderedJson::object();
  for (int64_t id = 0; id < tokenizer.vocab_size(); ++id) vocab[tokenizer.IdToToken(id)] = id;
  const std::string& cls = options.cls_token;
  const std::string& sep = options.sep_token;
  OrderedJson json = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "BertNormalizer"},
        {"clean_text", true},
        {"handle_chinese_chars", options.tokenize_chinese_chars},
        {"strip_accents",
         options.strip_accents ? OrderedJson(*options.strip_accents) : OrderedJson()},
        {"lowercase", options.do_lower_case}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", Template(cls, sep, /*pair=*/false)},
        {"pair", Template(cls, sep, /*pair=*/true)},
        {"special_tokens",
         {{cls, {{"id", cls}, {"ids", {tokenizer.cls_id()}}, {"tokens", {cls}}}},
          {sep, {{"id", sep}, {"ids", {tokenizer.sep_id()}}, {"tokens", {sep}}}}}}}},
      {"decoder",
       {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", options.clean_up_tokenization_spaces}}},
      {"model",
       {{"type", "WordPiece"},
        {"unk_token", options.unk_token},
        {"continuing_subword_prefix", "##"},
        {"max_input_chars_per_word", options.max_input_chars_per_word},
        {"vocab", vocab}}},
  };
  return json.dump(2, ' ', /*ensure_ascii=*/false);
}

absl::StatusOr<std::unique_ptr<BertTokenizer>> ParseTokenizerJson(absl::string_view contents,
                                                                  absl::string_view source,
                                                                  absl::string_view config_json) {
  const Json json =
      Json::parse(contents.begin(), contents.end(), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  }
  auto model = json.find("model");
  if (model == json.end() || !model->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field 'model' is missing or not an object"));
  }
  const Json type = model->value("type", Json());
  if (type != "WordPiece") {
    return Unsupported(source, "model.type", type, "only WordPiece tokenizers are read");
  }
  std::string prefix = "##";
  RETURN_IF_ERROR(OptionalString(*model, "continuing_subword_prefix", source,
                                 "model.continuing_subword_prefix", &prefix));
  if (prefix != "##") {
    return Unsupported(source, "model.continuing_subword_prefix", prefix, "only \"##\"");
  }
  BertTokenizerOptions options;
  RETURN_IF_ERROR(OptionalString(*model, "unk_token", source, "model.unk_token",
                                 &options.unk_token));
  auto max_chars = model->find("max_input_chars_per_word");
  if (max_chars != model->end() && !max_chars->is_null()) {
    if (!max_chars->is_number_integer()) {
      return WrongType(source, "model.max_input_chars_per_word", *max_chars, "an integer");
    }
    options.max_input_chars_per_word = max_chars->get<int>();
  }
  auto vocab_json = model->find("vocab");
  if (vocab_json == model->end() || !vocab_json->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field 'model.vocab' is missing or not an object token -> id"));
  }
  ASSIGN_OR_RETURN(Vocab vocab,
                   ParseVocabJson(vocab_json->dump(), absl::StrCat(source, " model.vocab")));
  RETURN_IF_ERROR(ReadNormalizer(json, source, &options));
  auto pre_tokenizer = json.find("pre_tokenizer");
  if (pre_tokenizer != json.end() && !pre_tokenizer->is_null()) {
    const Json pre_type =
        pre_tokenizer->is_object() ? pre_tokenizer->value("type", Json()) : *pre_tokenizer;
    if (pre_type != "BertPreTokenizer") {
      return Unsupported(source, "pre_tokenizer.type", pre_type, "only BertPreTokenizer");
    }
  }
  RETURN_IF_ERROR(ReadPostProcessor(json, source, &options));
  auto padding = json.find("padding");
  if (padding != json.end() && padding->is_object()) {
    RETURN_IF_ERROR(OptionalString(*padding, "pad_token", source, "padding.pad_token",
                                   &options.pad_token));
  }
  auto decoder = json.find("decoder");
  if (decoder != json.end() && decoder->is_object() &&
      decoder->value("type", Json()) == "WordPiece") {
    RETURN_IF_ERROR(OptionalBool(*decoder, "cleanup", source, "decoder.cleanup",
                                 &options.clean_up_tokenization_spaces));
  }
  RETURN_IF_ERROR(ReadConfigSpecials(config_json, source, &options));
  RETURN_IF_ERROR(CheckAddedTokens(json, vocab, options, source));
  return BertTokenizer::Create(std::move(vocab), std::move(options), source);
}

absl::StatusOr<std::unique_ptr<BertTokenizer>> LoadTokenizerJson(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string contents, base::ReadFileToString(path));
  const fs::path config_path = fs::path(path).parent_path() / "tokenizer_config.json";
  std::string config;
  std::error_code error;
  if (fs::is_regular_file(config_path, error)) {
    ASSIGN_OR_RETURN(config, base::ReadFileToString(config_path.string()));
  }
  return ParseTokenizerJson(contents, path, config);
}

absl::StatusOr<std::unique_ptr<BertTokenizer>> LoadBertTokenizer(
    const std::string& path, const BertTokenizerOptions& options) {
  std::error_code error;
  if (fs::is_directory(path, error)) {
    const fs::path dir(path);
    if (fs::is_regular_file(dir / "tokenizer.json", error)) {
      return LoadTokenizerJson((dir / "tokenizer.json").string());
    }
    if (fs::is_regular_file(dir / "vocab.txt", error)) {
      return BertTokenizer::FromFile((dir / "vocab.txt").string(), options);
    }
    return absl::NotFoundError(
        absl::StrCat(path, ": a directory with neither tokenizer.json nor vocab.txt"));
  }
  if (absl::EndsWith(path, "tokenizer.json")) return LoadTokenizerJson(path);
  return BertTokenizer::FromFile(path, options);
}

absl::Status SaveTokenizerFiles(const BertTokenizer& tokenizer, const std::string& dir,
                                int64_t model_max_length) {
  const fs::path base(dir);
  ASSIGN_OR_RETURN(const std::string tokenizer_json, TokenizerJson(tokenizer));
  const BertTokenizerOptions& options = tokenizer.options();
  OrderedJson decoder = OrderedJson::object();
  for (const auto& [id, token] : SpecialsById(tokenizer)) {
    OrderedJson entry = AddedToken(id, token);
    entry.erase("id");
    decoder[std::to_string(id)] = entry;
  }
  OrderedJson config = {{"added_tokens_decoder", decoder},
                        {"clean_up_tokenization_spaces", options.clean_up_tokenization_spaces},
                        {"cls_token", options.cls_token},
                        {"do_basic_tokenize", true},
                        {"do_lower_case", options.do_lower_case},
                        {"mask_token", options.mask_token},
                        {"model_max_length", model_max_length},
                        {"never_split", nullptr},
                        {"pad_token", options.pad_token},
                        {"sep_token", options.sep_token},
                        {"strip_accents", options.strip_accents
                                              ? OrderedJson(*options.strip_accents)
                                              : OrderedJson()},
                        {"tokenize_chinese_chars", options.tokenize_chinese_chars},
                        {"tokenizer_class", "BertTokenizer"},
                        {"unk_token", options.unk_token}};
  OrderedJson special_map = OrderedJson::object();
  for (const char* role : {"cls_token", "mask_token", "pad_token", "sep_token", "unk_token"}) {
    special_map[role] = config[role];
  }
  RETURN_IF_ERROR(WriteVocabTxt(tokenizer.vocab(), (base / "vocab.txt").string()));
  RETURN_IF_ERROR(
      base::WriteStringToFileAtomically((base / "tokenizer.json").string(), tokenizer_json));
  RETURN_IF_ERROR(base::WriteStringToFileAtomically((base / "tokenizer_config.json").string(),
                                                    config.dump(2) + "\n"));
  return base::WriteStringToFileAtomically((base / "special_tokens_map.json").string(),
                                           special_map.dump(2) + "\n");
}

}  // namespace tokenizers
