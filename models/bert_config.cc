#include "models/bert_config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"

namespace models {
namespace {

using Json = nlohmann::json;

// JSON key names of the shared fields, per model type.
struct KeyNames {
  const char* hidden_size;
  const char* num_hidden_layers;
  const char* num_attention_heads;
  const char* intermediate_size;
  const char* hidden_act;
  const char* hidden_dropout_prob;
  const char* attention_probs_dropout_prob;
};

constexpr KeyNames kBertKeys = {"hidden_size",        "num_hidden_layers",
                                "num_attention_heads", "intermediate_size",
                                "hidden_act",         "hidden_dropout_prob",
                                "attention_probs_dropout_prob"};
constexpr KeyNames kDistilBertKeys = {"dim",        "n_layers", "n_heads",          "hidden_dim",
                                      "activation", "dropout",  "attention_dropout"};

const KeyNames& KeysFor(const BertConfig& config) {
  return config.is_distilbert() ? kDistilBertKeys : kBertKeys;
}

const std::set<std::string>& SupportedActivations() {
  static const auto* const kActs = new std::set<std::string>{
      "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish", "tanh"};
  return *kActs;
}

// Reads typed fields out of one JSON object, naming the file and key in every error, and
// remembers which keys it consumed so the rest can be preserved verbatim.
class FieldReader {
 public:
  FieldReader(const Json& object, absl::string_view source) : object_(object), source_(source) {}

  bool Has(const char* key) const { return object_.contains(key); }

  absl::Status Int(const char* key, int64_t* out, bool required) {
    const Json* value = Find(key);
    if (value == nullptr) return Missing(key, required);
    if (value->is_number_unsigned() &&
        value->get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
      return WrongType(key, "a 64-bit integer", *value);
    }
    if (value->is_number_integer()) {
      *out = value->get<int64_t>();
      return absl::OkStatus();
    }
    if (value->is_number_float() && std::floor(value->get<double>()) == value->get<double>()) {
      // Converting a double outside int64's range is undefined (found by fuzzing).
      const double number = value->get<double>();
      if (!(number >= -0x1p63 && number < 0x1p63)) {
        return WrongType(key, "a 64-bit integer", *value);
      }
      *out = static_cast<int64_t>(number);
      return absl::OkStatus();
    }
    return WrongType(key, "an integer", *value);
  }

  absl::Status Double(const char* key, double* out) {
    const Json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_number()) return WrongType(key, "a number", *value);
    *out = value->get<double>();
    return absl::OkStatus();
  }

  absl::Status OptionalDouble(const char* key, std::optional<double>* out) {
    const Json* value = Find(key);
    if (value == nullptr || value->is_null()) return absl::OkStatus();
    if (!value->is_number()) return WrongType(key, "a number or null", *value);
    *out = value->get<double>();
    return absl::OkStatus();
  }

  absl::Status String(const char* key, std::string* out) {
    const Json* value = Find(key);
    if (value == nullptr || value->is_null()) return absl::OkStatus();
    if (!value->is_string()) return WrongType(key, "a string", *value);
    *out = value->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Bool(const char* key, bool* out) {
    const Json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_boolean()) return WrongType(key, "true or false", *value);
    *out = value->get<bool>();
    return absl::OkStatus();
  }

  absl::Status StringList(const char* key, std::vector<std::string>* out) {
    const Json* value = Find(key);
    if (value == nullptr || value->is_null()) return absl::OkStatus();
    if (!value->is_array()) return WrongType(key, "a list of strings", *value);
    out->clear();
    for (const Json& item : *value) {
      if (!item.is_string()) return WrongType(key, "a list of strings", *value);
      out->push_back(item.get<std::string>());
    }
    return absl::OkStatus();
  }

  // Raw access for structured fields (id2label); marks the key consumed.
  const Json* Find(const char* key) {
    consumed_.insert(key);
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  absl::Status Error(const char* key, absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": field '", key, "' ", problem));
  }

  // Keys nobody read, serialized, for round-tripping.
  std::map<std::string, std::string> Unconsumed() const {
    std::map<std::string, std::string> rest;
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (consumed_.count(it.key()) == 0) rest[it.key()] = it.value().dump();
    }
    return rest;
  }

 private:
  absl::Status Missing(const char* key, bool required) const {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": required field '", key, "' is missing"));
  }

  absl::Status WrongType(const char* key, const char* expected, const Json& value) const {
    std::string shown = value.dump();
    if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
    return Error(key, absl::StrCat("must be ", expected, ", got ", shown));
  }

  const Json& object_;
  absl::string_view source_;
  std::set<std::string> consumed_;
};

absl::Status ReadLabels(FieldReader& reader, BertConfig& config) {
  const Json* id2label = reader.Find("id2label");
  reader.Find("label2id");  // Derived from id2label; rewritten on save.
  if (id2label != nullptr && !id2label->is_null()) {
    if (!id2label->is_object()) {
      return reader.Error("id2label", "must be an object mapping \"0\" -> label name");
    }
    std::vector<std::string> labels(id2label->size());
    for (auto it = id2label->begin(); it != id2label->end(); ++it) {
      size_t index = 0;
      bool numeric = !it.key().empty() &&
                     std::all_of(it.key().begin(), it.key().end(), ::isdigit);
      if (numeric) index = std::stoul(it.key());
      if (!numeric || index >= labels.size() || !labels[index].empty() ||
          !it.value().is_string()) {
        return reader.Error(
            "id2label", absl::StrCat("must map the ids 0..", labels.size() - 1,
                                     " to label names, got key \"", it.key(), "\""));
      }
      labels[index] = it.value().get<std::string>();
    }
    config.id2label = std::move(labels);
  }
  const bool has_num_labels = reader.Has("num_labels");
  RETURN_IF_ERROR(reader.Int("num_labels", &config.num_labels, /*required=*/false));
  if (!config.id2label.empty()) {
    if (has_num_labels &&
        config.num_labels != static_cast<int64_t>(config.id2label.size())) {
      return reader.Error("num_labels",
                          absl::StrCat("is ", config.num_labels, " but id2label has ",
                                       config.id2label.size(), " entries"));
    }
    config.num_labels = static_cast<int64_t>(config.id2label.size());
  }
  return absl::OkStatus();
}

std::string InferModelType(const Json& object) {
  auto architectures = object.find("architectures");
  if (architectures != object.end() && architectures->is_array() &&
      !architectures->empty() && (*architectures)[0].is_string() &&
      (*architectures)[0].get<std::string>().rfind("DistilBert", 0) == 0) {
    return "distilbert";
  }
  if (object.contains("dim") && object.contains("n_layers")) return "distilbert";
  return "bert";
}

}  // namespace

std::string BertConfig::architecture() const {
  if (!architectures.empty()) return architectures.front();
  return is_distilbert() ? "DistilBertModel" : "BertModel";
}

const std::vector<std::string>& SupportedArchitectures(absl::string_view model_type) {
  static const auto* const kBert = new std::vector<std::string>{
      "BertModel", "BertForMaskedLM", "BertForPreTraining", "BertForQuestionAnswering",
      "BertForSequenceClassification"};
  static const auto* const kDistilBert = new std::vector<std::string>{
      "DistilBertModel", "DistilBertForMaskedLM", "DistilBertForQuestionAnswering",
      "DistilBertForSequenceClassification"};
  static const auto* const kNone = new std::vector<std::string>{};
  if (model_type == "bert") return *kBert;
  if (model_type == "distilbert") return *kDistilBert;
  return *kNone;
}

absl::StatusOr<BertConfig> BertConfigFromJson(absl::string_view json_text,
                                              absl::string_view source) {
  Json object;
  try {
    object = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON: ", e.what()));
  }
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": expected a JSON object"));
  }
  BertConfig config;
  FieldReader reader(object, source);
  config.model_type = InferModelType(object);
  RETURN_IF_ERROR(reader.String("model_type", &config.model_type));
  if (config.model_type != "bert" && config.model_type != "distilbert") {
    return reader.Error("model_type",
                        absl::StrCat("is \"", config.model_type,
                                     "\"; supported: \"bert\", \"distilbert\""));
  }
  const KeyNames& keys = KeysFor(config);
  RETURN_IF_ERROR(reader.StringList("architectures", &config.architectures));
  RETURN_IF_ERROR(reader.Int("vocab_size", &config.vocab_size, /*required=*/true));
  RETURN_IF_ERROR(reader.Int(keys.hidden_size, &config.hidden_size, true));
  RETURN_IF_ERROR(reader.Int(keys.num_hidden_layers, &config.num_hidden_layers, true));
  RETURN_IF_ERROR(reader.Int(keys.num_attention_heads, &config.num_attention_heads, true));
  RETURN_IF_ERROR(reader.Int(keys.intermediate_size, &config.intermediate_size, true));
  RETURN_IF_ERROR(reader.String(keys.hidden_act, &config.hidden_act));
  RETURN_IF_ERROR(reader.Double(keys.hidden_dropout_prob, &config.hidden_dropout_prob));
  RETURN_IF_ERROR(reader.Double(keys.attention_probs_dropout_prob,
                                &config.attention_probs_dropout_prob));
  RETURN_IF_ERROR(reader.Int("max_position_embeddings", &config.max_position_embeddings,
                             /*required=*/false));
  if (config.is_distilbert()) {
    config.type_vocab_size = 0;
    RETURN_IF_ERROR(reader.Double("qa_dropout", &config.qa_dropout));
    RETURN_IF_ERROR(reader.Double("seq_classif_dropout", &config.seq_classif_dropout));
    RETURN_IF_ERROR(reader.Bool("sinusoidal_pos_embds", &config.sinusoidal_pos_embds));
  } else {
    RETURN_IF_ERROR(reader.Int("type_vocab_size", &config.type_vocab_size, false));
    RETURN_IF_ERROR(reader.Double("layer_norm_eps", &config.layer_norm_eps));
    RETURN_IF_ERROR(reader.String("position_embedding_type", &config.position_embedding_type));
    RETURN_IF_ERROR(reader.OptionalDouble("classifier_dropout", &config.classifier_dropout));
  }
  RETURN_IF_ERROR(reader.Int("pad_token_id", &config.pad_token_id, false));
  RETURN_IF_ERROR(reader.Double("initializer_range", &config.initializer_range));
  RETURN_IF_ERROR(reader.Bool("tie_word_embeddings", &config.tie_word_embeddings));
  RETURN_IF_ERROR(reader.String("problem_type", &config.problem_type));
  RETURN_IF_ERROR(ReadLabels(reader, config));
  config.extra = reader.Unconsumed();
  RETURN_IF_ERROR(ValidateBertConfig(config, source));
  return config;
}

absl::Status ValidateBertConfig(const BertConfig& config, absl::string_view source) {
  const KeyNames& keys = KeysFor(config);
  auto error = [&](const char* key, const auto&... problem) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field '", key, "' ", problem...));
  };
  const std::pair<const char*, int64_t> positive[] = {
      {"vocab_size", config.vocab_size},
      {keys.hidden_size, config.hidden_size},
      {keys.num_hidden_layers, config.num_hidden_layers},
      {keys.num_attention_heads, config.num_attention_heads},
      {keys.intermediate_size, config.intermediate_size},
      {"max_position_embeddings", config.max_position_embeddings},
      {"num_labels", config.num_labels}};
  for (const auto& [key, value] : positive) {
    if (value <= 0) return error(key, "must be positive, got ", value);
  }
  if (config.hidden_size % config.num_attention_heads != 0) {
    return error(keys.hidden_size, "(", config.hidden_size, ") must be a multiple of ",
                 keys.num_attention_heads, " (", config.num_attention_heads, ")");
  }
  if (config.type_vocab_size < 0) {
    return error("type_vocab_size", "must not be negative, got ", config.type_vocab_size);
  }
  if (config.pad_token_id < 0 || config.pad_token_id >= config.vocab_size) {
    return error("pad_token_id", "must be in [0, vocab_size=", config.vocab_size, "), got ",
                 config.pad_token_id);
  }
  if (SupportedActivations().count(config.hidden_act) == 0) {
    return error(keys.hidden_act, "is \"", config.hidden_act, "\"; supported: ",
                 absl::StrJoin(SupportedActivations(), ", "));
  }
  const std::pair<const char*, double> probabilities[] = {
      {keys.hidden_dropout_prob, config.hidden_dropout_prob},
      {keys.attention_probs_dropout_prob, config.attention_probs_dropout_prob},
      {"qa_dropout", config.qa_dropout},
      {"seq_classif_dropout", config.seq_classif_dropout},
      {"classifier_dropout", config.classifier_dropout.value_or(0.0)}};
  for (const auto& [key, value] : probabilities) {
    if (!(value >= 0.0 && value < 1.0)) return error(key, "must be in [0, 1), got ", value);
  }
  if (!(config.layer_norm_eps > 0.0)) {
    return error("layer_norm_eps", "must be positive, got ", config.layer_norm_eps);
  }
  if (config.position_embedding_type != "absolute") {
    return error("position_embedding_type", "is \"", config.position_embedding_type,
                 "\"; only \"absolute\" is implemented");
  }
  const std::set<std::string> problem_types = {"", "regression", "single_label_classification",
                                               "multi_label_classification"};
  if (problem_types.count(config.problem_type) == 0) {
    return error("problem_type", "is \"", config.problem_type, "\"; supported: ",
                 "regression, single_label_classification, multi_label_classification");
  }
  if (!config.id2label.empty() &&
      static_cast<int64_t>(config.id2label.size()) != config.num_labels) {
    return error("id2label", "has ", config.id2label.size(), " labels but num_labels is ",
                 config.num_labels);
  }
  const std::vector<std::string>& supported = SupportedArchitectures(config.model_type);
  for (const std::string& architecture : config.architectures) {
    if (std::find(supported.begin(), supported.end(), architecture) == supported.end()) {
      return error("architectures", "names unknown architecture \"", architecture,
                   "\" for model_type \"", config.model_type,
                   "\"; supported: ", absl::StrJoin(supported, ", "));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<BertConfig> LoadBertConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
  return BertConfigFromJson(text, path);
}

std::string BertConfigToJson(const BertConfig& config) {
  const KeyNames& keys = KeysFor(config);
  Json object = Json::object();
  for (const auto& [key, serialized] : config.extra) {
    object[key] = Json::parse(serialized, nullptr, /*allow_exceptions=*/false);
  }
  if (!config.architectures.empty()) object["architectures"] = config.architectures;
  object["model_type"] = config.model_type;
  object["vocab_size"] = config.vocab_size;
  object[keys.hidden_size] = config.hidden_size;
  object[keys.num_hidden_layers] = config.num_hidden_layers;
  object[keys.num_attention_heads] = config.num_attention_heads;
  object[keys.intermediate_size] = config.intermediate_size;
  object[keys.hidden_act] = config.hidden_act;
  object[keys.hidden_dropout_prob] = config.hidden_dropout_prob;
  object[keys.attention_probs_dropout_prob] = config.attention_probs_dropout_prob;
  object["max_position_embeddings"] = config.max_position_embeddings;
  if (config.is_distilbert()) {
    object["qa_dropout"] = config.qa_dropout;
    object["seq_classif_dropout"] = config.seq_classif_dropout;
    object["sinusoidal_pos_embds"] = config.sinusoidal_pos_embds;
  } else {
    object["type_vocab_size"] = config.type_vocab_size;
    object["layer_norm_eps"] = config.layer_norm_eps;
    object["position_embedding_type"] = config.position_embedding_type;
    object["classifier_dropout"] =
        config.classifier_dropout ? Json(*config.classifier_dropout) : Json(nullptr);
  }
  object["pad_token_id"] = config.pad_token_id;
  object["initializer_range"] = config.initializer_range;
  object["tie_word_embeddings"] = config.tie_word_embeddings;
  if (!config.problem_type.empty()) object["problem_type"] = config.problem_type;
  Json id2label = Json::object();
  Json label2id = Json::object();
  for (int64_t i = 0; i < config.num_labels; ++i) {
    const std::string name = i < static_cast<int64_t>(config.id2label.size())
                                 ? config.id2label[i]
                                 : absl::StrCat("LABEL_", i);
    id2label[std::to_string(i)] = name;
    label2id[name] = i;
  }
  object["id2label"] = id2label;
  object["label2id"] = label2id;
  return object.dump(2) + "\n";
}

absl::Status SaveBertConfig(const BertConfig& config, const std::string& path) {
  RETURN_IF_ERROR(ValidateBertConfig(config, path));
  return base::WriteStringToFileAtomically(path, BertConfigToJson(config));
}

absl::StatusOr<BertConfig> BertConfigPreset(absl::string_view name) {
  struct Size {
    const char* name;
    int64_t layers, hidden;
  };
  static constexpr Size kSizes[] = {{"bert-tiny", 2, 128},   {"bert-mini", 4, 256},
                                    {"bert-small", 4, 512},  {"bert-medium", 8, 512},
                                    {"bert-base", 12, 768},  {"bert-large", 24, 1024}};
  BertConfig config;
  if (name == "distilbert-base") {
    config.model_type = "distilbert";
    config.num_hidden_layers = 6;
    config.type_vocab_size = 0;
    config.architectures = {"DistilBertModel"};
    return config;
  }
  for (const Size& size : kSizes) {
    if (name != size.name) continue;
    config.num_hidden_layers = size.layers;
    config.hidden_size = size.hidden;
    config.num_attention_heads = size.hidden / 64;
    config.intermediate_size = 4 * size.hidden;
    config.architectures = {"BertModel"};
    return config;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown model preset \"", name,
      "\"; known: bert-tiny, bert-mini, bert-small, bert-medium, bert-base, bert-large, "
      "distilbert-base"));
}

}  // namespace models
