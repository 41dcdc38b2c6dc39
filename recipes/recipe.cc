#include "recipes/recipe.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <functional>
#include <set>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "models/bert_config.h"
#include "recipes/recipe_schema.h"

namespace recipes {

std::string SourceLocation::ToString() const {
  std::string out = file;
  if (line > 0) absl::StrAppend(&out, ":", line);
  if (!key.empty()) absl::StrAppend(&out, ": ", key);
  return out;
}

namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------
// The recipe as a tree we own. yaml-cpp only parses: its nodes are shared references (an
// alias is the anchor's node, so an override through one alias would change every use) and
// it has no merge keys, so the document is copied once into this tree, which overrides,
// substitution and defaults then edit freely.

struct Value {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  std::string scalar;
  bool quoted = false;  // Written in quotes: a string, never a number or a boolean.
  std::vector<Value> items;
  std::vector<std::pair<std::string, Value>> entries;  // In file order.
  int line = 0;        // 1-based line of the key (map entries) or item; 0: not from the file.
  std::string origin;  // "" (the recipe file) or e.g. "--set a.b=1" / "--output_dir".

  bool is_map() const { return kind == Kind::kMap; }
  const Value* Find(const std::string& key) const {
    for (const auto& [name, value] : entries) {
      if (name == key) return &value;
    }
    return nullptr;
  }
  Value* Find(const std::string& key) {
    return const_cast<Value*>(static_cast<const Value*>(this)->Find(key));
  }
  void Set(const std::string& key, Value value) {
    if (Value* existing = Find(key)) {
      *existing = std::move(value);
    } else {
      entries.emplace_back(key, std::move(value));
    }
  }
  bool Erase(const std::string& key) {
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      if (it->first == key) {
        entries.erase(it);
        return true;
      }
    }
    return false;
  }
};

std::string Describe(const Value& value) {
  switch (value.kind) {
    case Value::Kind::kNull:
      return "nothing";
    case Value::Kind::kScalar:
      return value.quoted ? absl::StrCat("the string \"", value.scalar, "\"")
                          : absl::StrCat("\"", value.scalar, "\"");
    case Value::Kind::kSequence:
      return "a list";
    case Value::Kind::kMap:
      return "a map";
  }
  return "?";
}

std::string JoinKey(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : absl::StrCat(parent, ".", child);
}

// "file:line: key: message", the line left out when unknown.
absl::Status MakeError(const std::string& file, int line, const std::string& key,
                       const std::string& message,
                       absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  SourceLocation location{file, line, key};
  return absl::Status(code, absl::StrCat(location.ToString(), ": ", message));
}

struct Ctx {
  std::string file;
};

// An error about `value` (found at `key`), saying which override set it, if one did.
absl::Status ValueError(const Ctx& ctx, const Value& value, const std::string& key,
                        const std::string& message,
                        absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  std::string text = message;
  if (!value.origin.empty()) absl::StrAppend(&text, " (set by ", value.origin, ")");
  return MakeError(ctx.file, value.line, key, text, code);
}

// ${name} is not valid inside YAML flow collections ({...}, [...]: `{` would open a map),
// yet `train_files: [${data_dir}/a.txt]` is what people write. So before parsing, ${name}
// becomes $<name>, which YAML reads as plain text, and every parsed string turns it back.
std::string ProtectVariables(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      size_t end = i + 2;
      while (end < text.size() && (absl::ascii_isalnum(text[end]) || text[end] == '_')) ++end;
      if (end > i + 2 && end < text.size() && text[end] == '}') {
        absl::StrAppend(&out, "$<", text.substr(i + 2, end - i - 2), ">");
        i = end;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string UnprotectVariables(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '<') {
      size_t end = i + 2;
      while (end < text.size() && (absl::ascii_isalnum(text[end]) || text[end] == '_')) ++end;
      if (end > i + 2 && end < text.size() && text[end] == '>') {
        absl::StrAppend(&out, "${", text.substr(i + 2, end - i - 2), "}");
        i = end;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

int LineOf(const YAML::Mark& mark) { return mark.is_null() || mark.line < 0 ? 0 : mark.line + 1; }

absl::StatusOr<Value> FromYaml(const YAML::Node& node, const Ctx& ctx, const std::string& key,
                               const std::string& origin, int line, int depth) {
  if (depth > 64) return MakeError(ctx.file, line, key, "nesting deeper than 64 levels");
  Value value;
  value.origin = origin;
  value.line = origin.empty() ? line : 0;
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      value.kind = Value::Kind::kNull;
      return value;
    case YAML::NodeType::Scalar:
      value.kind = Value::Kind::kScalar;
      value.scalar = UnprotectVariables(node.Scalar());
      value.quoted = node.Tag() == "!";
      return value;
    case YAML::NodeType::Sequence: {
      value.kind = Value::Kind::kSequence;
      for (size_t i = 0; i < node.size(); ++i) {
        ASSIGN_OR_RETURN(Value item, FromYaml(node[i], ctx, absl::StrCat(key, "[", i, "]"), origin,
                                              LineOf(node[i].Mark()), depth + 1));
        value.items.push_back(std::move(item));
      }
      return value;
    }
    case YAML::NodeType::Map: {
      value.kind = Value::Kind::kMap;
      std::vector<Value> merges;  // `<<: *anchor` (YAML 1.1 merge keys), applied last.
      for (auto it = node.begin(); it != node.end(); ++it) {
        const int key_line = LineOf(it->first.Mark());
        if (!it->first.IsScalar()) {
          return MakeError(ctx.file, key_line, key, "map keys must be plain names");
        }
        const std::string name = it->first.Scalar();
        ASSIGN_OR_RETURN(Value child, FromYaml(it->second, ctx, JoinKey(key, name), origin,
                                               key_line, depth + 1));
        if (name == "<<") {
          merges.push_back(std::move(child));
          continue;
        }
        if (value.Find(name) != nullptr) {
          return MakeError(ctx.file, key_line, JoinKey(key, name), "duplicate key");
        }
        value.entries.emplace_back(name, std::move(child));
      }
      for (const Value& merge : merges) {
        std::vector<const Value*> sources;
        if (merge.is_map()) sources.push_back(&merge);
        if (merge.kind == Value::Kind::kSequence) {
          for (const Value& item : merge.items) sources.push_back(&item);
        }
        for (const Value* source : sources) {
          if (!source->is_map()) {
            return MakeError(ctx.file, merge.line, JoinKey(key, "<<"),
                             "a merge key takes a map or a list of maps");
          }
          for (const auto& [name, child] : source->entries) {
            if (value.Find(name) == nullptr) value.entries.emplace_back(name, child);
          }
        }
      }
      return value;
    }
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// Overrides (profiles and --set) on the tree: dotted keys, list elements by index or by
// their `name:`; missing maps are created, so a stage without `training:` can still get
// `stages.x.training.max_steps`. Whether the final key exists is checked when binding.

absl::Status ApplyOverride(const Ctx& ctx, Value* root, const std::string& dotted, Value value,
                           int line, const std::string& origin) {
  auto error = [&](const std::string& message) {
    std::string text = message;
    if (line == 0) absl::StrAppend(&text, " (in ", origin, ")");
    return MakeError(ctx.file, line, dotted, text);
  };
  if (dotted.empty()) return error("empty key");
  const std::vector<std::string> parts = absl::StrSplit(dotted, '.');
  Value* node = root;
  std::string path;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    if (part.empty()) return error("empty part in the dotted key");
    const bool last = i + 1 == parts.size();
    if (node->kind == Value::Kind::kNull) node->kind = Value::Kind::kMap;
    if (node->kind == Value::Kind::kSequence) {
      Value* element = nullptr;
      size_t index = 0;
      if (absl::SimpleAtoi(part, &index)) {
        if (index >= node->items.size()) {
          return error(absl::StrCat(path, " has ", node->items.size(), " elements; index ",
                                    index, " does not exist"));
        }
        element = &node->items[index];
      } else {
        std::vector<std::string> names;
        for (Value& item : node->items) {
          const Value* name = item.is_map() ? item.Find("name") : nullptr;
          if (name == nullptr) continue;
          names.push_back(name->scalar);
          if (name->scalar == part) element = &item;
        }
        if (element == nullptr) {
          return error(absl::StrCat(path, " has no element named \"", part, "\" (names: ",
                                    names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
        }
      }
      if (last) {
        *element = std::move(value);
        return absl::OkStatus();
      }
      node = element;
    } else if (node->is_map()) {
      if (last) {
        node->Set(part, std::move(value));
        return absl::OkStatus();
      }
      Value* child = node->Find(part);
      if (child == nullptr) {
        Value created;
        created.kind = Value::Kind::kMap;
        created.origin = origin;
        created.line = line;
        node->Set(part, std::move(created));
        child = node->Find(part);
      }
      node = child;
    } else {
      return error(absl::StrCat(path.empty() ? "the recipe" : path, " is ", Describe(*node),
                                ", not a map or list, so it has no key \"", part, "\""));
    }
    path = JoinKey(path, part);
  }
  return absl::OkStatus();
}

// Copies entries of `defaults` that `target` lacks; maps merge recursively, everything else
// (lists included) is replaced as a whole by what `target` says.
void MergeDefaults(Value* target, const Value& defaults) {
  if (target->kind == Value::Kind::kNull) {
    *target = defaults;
    return;
  }
  if (!target->is_map() || !defaults.is_map()) return;
  for (const auto& [name, value] : defaults.entries) {
    Value* existing = target->Find(name);
    if (existing == nullptr) {
      target->entries.emplace_back(name, value);
    } else if (existing->is_map() && value.is_map()) {
      MergeDefaults(existing, value);
    }
  }
}

// "stages[teacher]" for an element with a name, else "stages[0]".
std::string ItemKey(const std::string& list_key, const Value& item, size_t index) {
  const Value* name = item.is_map() ? item.Find("name") : nullptr;
  if (name != nullptr && name->kind == Value::Kind::kScalar && !name->scalar.empty()) {
    return absl::StrCat(list_key, "[", name->scalar, "]");
  }
  return absl::StrCat(list_key, "[", index, "]");
}

// ${data_dir}, ${output_dir}, ${model_dir}, ${teacher_dir} in every string.
absl::Status Substitute(const Ctx& ctx, Value* value, const std::string& key,
                        const std::map<std::string, std::string>& variables) {
  switch (value->kind) {
    case Value::Kind::kNull:
      return absl::OkStatus();
    case Value::Kind::kSequence:
      for (size_t i = 0; i < value->items.size(); ++i) {
        RETURN_IF_ERROR(
            Substitute(ctx, &value->items[i], ItemKey(key, value->items[i], i), variables));
      }
      return absl::OkStatus();
    case Value::Kind::kMap:
      for (auto& [name, child] : value->entries) {
        RETURN_IF_ERROR(Substitute(ctx, &child, JoinKey(key, name), variables));
      }
      return absl::OkStatus();
    case Value::Kind::kScalar:
      break;
  }
  std::string& text = value->scalar;
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t start = text.find("${", pos);
    if (start == std::string::npos) break;
    const size_t end = text.find('}', start);
    if (end == std::string::npos) {
      return ValueError(ctx, *value, key, absl::StrCat("\"", text, "\" has an unclosed ${"));
    }
    const std::string name = text.substr(start + 2, end - start - 2);
    auto it = variables.find(name);
    if (it == variables.end()) {
      return ValueError(ctx, *value, key,
                        absl::StrCat("\"", text, "\" uses ${", name,
                                     "}; known: ${data_dir}, ${output_dir}, ${model_dir}, "
                                     "${teacher_dir}"));
    }
    if (it->second.empty()) {
      return ValueError(ctx, *value, key,
                        absl::StrCat("\"", text, "\" uses ${", name, "}, which is not set: pass --",
                                     name, "=DIR or set ", name, ": in the recipe"));
    }
    absl::StrAppend(&out, text.substr(pos, start - pos), it->second);
    pos = end + 1;
  }
  if (pos > 0) {
    absl::StrAppend(&out, text.substr(pos));
    text = out;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// The binder: one table per struct (YAML key -> setter), so unknown keys and wrong types
// are caught in one place for every struct.

template <typename T>
struct Field {
  std::string name;
  std::function<absl::Status(const Ctx&, const Value&, const std::string&, T*)> bind;
  // Keys below this one, for the documentation check ("" entries: a map of any names).
  std::function<std::vector<std::string>()> subkeys;
};
template <typename T>
using Fields = std::vector<Field<T>>;
template <typename T>
const Fields<T>& FieldsOf();  // One specialization per struct, below.
template <>
const Fields<compressor::QuantizationConfig>& FieldsOf();

// Value parsers; declared first so the templates below see every overload.
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, std::string* out);
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, bool* out);
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, int64_t* out);
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, uint64_t* out);
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, double* out);
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, float* out);
template <typename T>
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, std::vector<T>* out);
template <typename T>
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key,
                   std::map<std::string, T>* out);
template <typename T>
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, std::optional<T>* out);
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key,
                   compressor::QuantizationConfig* out);
template <typename T>
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, T* out);

template <typename T>
std::vector<std::string> SubKeys(const T*);
template <typename T>
std::vector<std::string> SubKeys(const std::vector<T>*);
template <typename T>
std::vector<std::string> SubKeys(const std::optional<T>*);
template <typename T>
std::vector<std::string> SubKeys(const std::map<std::string, T>*);

template <typename T>
struct HasLocation : std::false_type {};

template <typename T>
constexpr bool kIsScalar = std::is_arithmetic_v<T> || std::is_same_v<T, std::string>;

template <typename T>
std::vector<std::string> SubKeys(const T*) {
  if constexpr (kIsScalar<T>) {
    return {};
  } else {
    std::vector<std::string> keys;
    for (const Field<T>& field : FieldsOf<T>()) {
      keys.push_back(field.name);
      for (const std::string& sub : field.subkeys()) keys.push_back(JoinKey(field.name, sub));
    }
    return keys;
  }
}
template <typename T>
std::vector<std::string> SubKeys(const std::vector<T>*) {
  return SubKeys(static_cast<const T*>(nullptr));
}
template <typename T>
std::vector<std::string> SubKeys(const std::optional<T>*) {
  return SubKeys(static_cast<const T*>(nullptr));
}
template <typename T>
std::vector<std::string> SubKeys(const std::map<std::string, T>*) {
  return {};
}

// A field bound to a data member.
template <typename T, typename M>
Field<T> F(std::string name, M T::*member) {
  return {std::move(name),
          [member](const Ctx& ctx, const Value& v, const std::string& key, T* out) {
            return Parse(ctx, v, key, &(out->*member));
          },
          [] { return SubKeys(static_cast<const M*>(nullptr)); }};
}

// A key handled outside the table (still a known key).
template <typename T>
Field<T> Handled(std::string name, std::function<std::vector<std::string>()> subkeys = nullptr) {
  if (!subkeys) subkeys = [] { return std::vector<std::string>{}; };
  return {std::move(name), [](const Ctx&, const Value&, const std::string&, T*) {
            return absl::OkStatus();
          },
          std::move(subkeys)};
}

template <typename T>
void SetLocation(const Ctx& ctx, const Value& v, const std::string& key, T* out) {
  if constexpr (HasLocation<T>::value) out->location = SourceLocation{ctx.file, v.line, key};
}

template <typename T>
absl::Status BindMap(const Ctx& ctx, const Value& v, const std::string& key,
                     const Fields<T>& fields, T* out) {
  SetLocation(ctx, v, key, out);
  if (v.kind == Value::Kind::kNull) return absl::OkStatus();  // `key:` alone: defaults.
  if (!v.is_map()) {
    return ValueError(ctx, v, key, absl::StrCat("expected a map of keys, got ", Describe(v)));
  }
  for (const auto& entry : v.entries) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
    const auto& name = entry.first;
    const auto& child = entry.second;
    auto field = std::find_if(fields.begin(), fields.end(),
                              [&](const Field<T>& f) { return f.name == name; });
    if (field == fields.end()) {
      std::vector<std::string> known;
      for (const Field<T>& f : fields) known.push_back(f.name);
      return ValueError(ctx, child, JoinKey(key, name),
                        absl::StrCat("unknown key; known keys here: ", absl::StrJoin(known, ", ")));
    }
    RETURN_IF_ERROR(field->bind(ctx, child, JoinKey(key, name), out));
  }
  return absl::OkStatus();
}

absl::Status ExpectScalar(const Ctx& ctx, const Value& v, const std::string& key,
                          const char* what) {
  if (v.kind == Value::Kind::kScalar) return absl::OkStatus();
  return ValueError(ctx, v, key, absl::StrCat("expected ", what, ", got ", Describe(v)));
}

absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, std::string* out) {
  RETURN_IF_ERROR(ExpectScalar(ctx, v, key, "a string"));
  *out = v.scalar;
  return absl::OkStatus();
}

absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, bool* out) {
  RETURN_IF_ERROR(ExpectScalar(ctx, v, key, "true or false"));
  const std::string lower = absl::AsciiStrToLower(v.scalar);
  if (!v.quoted && lower == "true") {
    *out = true;
  } else if (!v.quoted && lower == "false") {
    *out = false;
  } else {
    return ValueError(ctx, v, key, absl::StrCat("expected true or false, got ", Describe(v)));
  }
  return absl::OkStatus();
}

template <typename Int>
absl::Status ParseInteger(const Ctx& ctx, const Value& v, const std::string& key, const char* what,
                          Int* out) {
  RETURN_IF_ERROR(ExpectScalar(ctx, v, key, what));
  Int parsed;
  if (v.quoted || !absl::SimpleAtoi(v.scalar, &parsed)) {
    return ValueError(ctx, v, key, absl::StrCat("expected ", what, ", got ", Describe(v)));
  }
  *out = parsed;
  return absl::OkStatus();
}

absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, int64_t* out) {
  return ParseInteger(ctx, v, key, "an integer", out);
}

absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, uint64_t* out) {
  return ParseInteger(ctx, v, key, "a non-negative integer", out);
}

absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, double* out) {
  RETURN_IF_ERROR(ExpectScalar(ctx, v, key, "a number"));
  double parsed;
  if (v.quoted || !absl::SimpleAtod(v.scalar, &parsed) || !std::isfinite(parsed)) {
    return ValueError(ctx, v, key, absl::StrCat("expected a number, got ", Describe(v)));
  }
  *out = parsed;
  return absl::OkStatus();
}

absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, float* out) {
  double parsed;
  RETURN_IF_ERROR(Parse(ctx, v, key, &parsed));
  *out = static_cast<float>(parsed);
  return absl::OkStatus();
}

// A list; a single scalar is accepted as a list of one (train_files: a.txt).
template <typename T>
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, std::vector<T>* out) {
  std::vector<T> parsed;
  if (v.kind == Value::Kind::kSequence) {
    for (size_t i = 0; i < v.items.size(); ++i) {
      T item{};
      RETURN_IF_ERROR(Parse(ctx, v.items[i], absl::StrCat(key, "[", i, "]"), &item));
      parsed.push_back(std::move(item));
    }
  } else if (v.kind == Value::Kind::kScalar && kIsScalar<T>) {
    T item{};
    RETURN_IF_ERROR(Parse(ctx, v, key, &item));
    parsed.push_back(std::move(item));
  } else {
    return ValueError(ctx, v, key,
                      absl::StrCat("expected a list (write [] for none), got ", Describe(v)));
  }
  *out = std::move(parsed);
  return absl::OkStatus();
}

template <typename T>
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key,
                   std::map<std::string, T>* out) {
  if (v.kind == Value::Kind::kNull) {
    out->clear();
    return absl::OkStatus();
  }
  if (!v.is_map()) {
    return ValueError(ctx, v, key, absl::StrCat("expected a map, got ", Describe(v)));
  }
  std::map<std::string, T> parsed;
  for (const auto& [name, child] : v.entries) {
    T item{};
    RETURN_IF_ERROR(Parse(ctx, child, JoinKey(key, name), &item));
    parsed[name] = std::move(item);
  }
  *out = std::move(parsed);
  return absl::OkStatus();
}

template <typename T>
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, std::optional<T>* out) {
  T parsed = out->has_value() ? **out : T{};
  RETURN_IF_ERROR(Parse(ctx, v, key, &parsed));
  *out = std::move(parsed);
  return absl::OkStatus();
}

template <typename T>
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key, T* out) {
  return BindMap(ctx, v, key, FieldsOf<T>(), out);
}

// `preset:` first (prune_ofa / inc_fx), then the other keys on top of it.
absl::Status Parse(const Ctx& ctx, const Value& v, const std::string& key,
                   compressor::QuantizationConfig* out) {
  if (const Value* preset = v.is_map() ? v.Find("preset") : nullptr) {
    std::string name;
    RETURN_IF_ERROR(Parse(ctx, *preset, JoinKey(key, "preset"), &name));
    absl::StatusOr<compressor::QuantizationConfig> config =
        compressor::QuantizationConfig::Preset(name);
    if (!config.ok()) {
      return ValueError(ctx, *preset, JoinKey(key, "preset"),
                        absl::StrCat("\"", name, "\" is unknown; supported: prune_ofa, inc_fx"));
    }
    *out = *config;
  }
  return BindMap(ctx, v, key, FieldsOf<compressor::QuantizationConfig>(), out);
}

// config_overrides values are kept as JSON text, as config.json would hold them.
absl::Status ParseJsonText(const Ctx& ctx, const Value& v, const std::string& key,
                           std::string* out) {
  if (v.kind == Value::Kind::kNull) {
    *out = "null";
    return absl::OkStatus();
  }
  if (v.kind == Value::Kind::kSequence) {
    std::vector<std::string> items;
    for (size_t i = 0; i < v.items.size(); ++i) {
      std::string item;
      RETURN_IF_ERROR(ParseJsonText(ctx, v.items[i], absl::StrCat(key, "[", i, "]"), &item));
      items.push_back(std::move(item));
    }
    *out = absl::StrCat("[", absl::StrJoin(items, ", "), "]");
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(ExpectScalar(ctx, v, key, "a value or a list"));
  double number;
  const std::string lower = absl::AsciiStrToLower(v.scalar);
  if (!v.quoted && (lower == "true" || lower == "false" || lower == "null")) {
    *out = lower;
  } else if (!v.quoted && absl::SimpleAtod(v.scalar, &number) && std::isfinite(number) &&
             v.scalar.find_first_not_of("0123456789+-.eE") == std::string::npos) {
    *out = v.scalar;
  } else {
    std::string quoted = "\"";
    for (char c : v.scalar) {
      if (c == '"' || c == '\\') quoted.push_back('\\');
      quoted.push_back(c);
    }
    *out = quoted + "\"";
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The tables: YAML key = C++ field name. Fields the runner sets itself (output_dir, resume,
// stage and progress of TrainerConfig, is_training of the SQuAD features, pad_token_id of
// the loader) are not keys.

namespace {

using compressor::DistillationConfig;
using compressor::LayerMapping;
using compressor::PruningConfig;
using compressor::QuantizationConfig;
using compressor::QuantScheme;
using compressor::TrainerConfig;

template <>
struct HasLocation<ModelSpec> : std::true_type {};
template <>
struct HasLocation<TokenizerSpec> : std::true_type {};
template <>
struct HasLocation<TaskSpec> : std::true_type {};
template <>
struct HasLocation<StageSpec> : std::true_type {};
template <>
struct HasLocation<ReportRow> : std::true_type {};

template <>
const Fields<TrainerConfig>& FieldsOf() {
  using T = TrainerConfig;
  static const auto* fields = new Fields<T>{
      F("optimizer", &T::optimizer),
      F("learning_rate", &T::learning_rate),
      F("weight_decay", &T::weight_decay),
      F("no_decay", &T::no_decay),
      F("adam_beta1", &T::adam_beta1),
      F("adam_beta2", &T::adam_beta2),
      F("adam_epsilon", &T::adam_epsilon),
      F("sgd_momentum", &T::sgd_momentum),
      F("lr_scheduler_type", &T::lr_scheduler_type),
      F("warmup_steps", &T::warmup_steps),
      F("warmup_ratio", &T::warmup_ratio),
      F("max_grad_norm", &T::max_grad_norm),
      F("gradient_accumulation_steps", &T::gradient_accumulation_steps),
      F("num_train_epochs", &T::num_train_epochs),
      F("max_steps", &T::max_steps),
      F("eval_steps", &T::eval_steps),
      F("metric_for_best_model", &T::metric_for_best_model),
      F("greater_is_better", &T::greater_is_better),
      F("load_best_model_at_end", &T::load_best_model_at_end),
      F("logging_steps", &T::logging_steps),
      F("save_steps", &T::save_steps),
      F("save_total_limit", &T::save_total_limit),
      F("seed", &T::seed),
      F("nan_policy", &T::nan_policy),
  };
  return *fields;
}

template <>
const Fields<PruningConfig>& FieldsOf() {
  using T = PruningConfig;
  static const auto* fields = new Fields<T>{
      F("pruning_type", &T::pruning_type),
      F("pattern", &T::pattern),
      F("pruning_scope", &T::pruning_scope),
      F("target_sparsity", &T::target_sparsity),
      F("initial_sparsity", &T::initial_sparsity),
      F("start_step", &T::start_step),
      F("end_step", &T::end_step),
      F("pruning_frequency", &T::pruning_frequency),
      F("sparsity_decay_type", &T::sparsity_decay_type),
      F("op_types", &T::op_types),
      F("op_names", &T::op_names),
      F("excluded_op_names", &T::excluded_op_names),
      F("min_sparsity_ratio_per_op", &T::min_sparsity_ratio_per_op),
      F("max_sparsity_ratio_per_op", &T::max_sparsity_ratio_per_op),
      F("snip_momentum_beta", &T::snip_momentum_beta),
      F("lr_rewind", &T::lr_rewind),
  };
  return *fields;
}

template <>
const Fields<LayerMapping>& FieldsOf() {
  using T = LayerMapping;
  static const auto* fields = new Fields<T>{
      F("student_output", &T::student_output), F("teacher_output", &T::teacher_output),
      F("loss_type", &T::loss_type),           F("weight", &T::weight),
      F("student_width", &T::student_width),   F("teacher_width", &T::teacher_width),
  };
  return *fields;
}

template <>
const Fields<DistillationConfig>& FieldsOf() {
  using T = DistillationConfig;
  static const auto* fields = new Fields<T>{
      F("temperature", &T::temperature),
      F("logit_names", &T::logit_names),
      F("loss_types", &T::loss_types),
      F("loss_weights", &T::loss_weights),
      F("kd_mask_key", &T::kd_mask_key),
      F("layer_mappings", &T::layer_mappings),
      F("add_origin_loss", &T::add_origin_loss),
      F("teacher_cache_key", &T::teacher_cache_key),
      F("teacher_cache_dir", &T::teacher_cache_dir),
  };
  return *fields;
}

template <>
const Fields<QuantScheme>& FieldsOf() {
  using T = QuantScheme;
  static const auto* fields = new Fields<T>{
      F("dtype", &T::dtype),   F("symmetric", &T::symmetric),       F("per_channel", &T::per_channel),
      F("ch_axis", &T::ch_axis), F("reduce_range", &T::reduce_range),
  };
  return *fields;
}

template <>
const Fields<QuantizationConfig>& FieldsOf() {
  using T = QuantizationConfig;
  static const auto* fields = new Fields<T>{
      Handled<T>("preset"),  // Applied first by Parse(QuantizationConfig).
      F("approach", &T::approach),
      F("convert_to_int8", &T::convert_to_int8),
      F("weight", &T::weight),
      F("activation", &T::activation),
      F("weight_observer", &T::weight_observer),
      F("activation_observer", &T::activation_observer),
      F("averaging_constant", &T::averaging_constant),
      F("percentile", &T::percentile),
      F("histogram_bins", &T::histogram_bins),
      F("op_types", &T::op_types),
      F("op_names", &T::op_names),
      F("excluded_op_names", &T::excluded_op_names),
      F("outputs_not_requantized", &T::outputs_not_requantized),
      F("fold_batch_norm", &T::fold_batch_norm),
      F("quantize_attention_matmuls", &T::quantize_attention_matmuls),
      F("quantize_embeddings", &T::quantize_embeddings),
  };
  return *fields;
}

template <>
const Fields<datasets::mlm::InstanceOptions>& FieldsOf() {
  using T = datasets::mlm::InstanceOptions;
  static const auto* fields = new Fields<T>{
      F("max_seq_length", &T::max_seq_length),
      F("short_seq_prob", &T::short_seq_prob),
      F("next_sentence_prediction", &T::next_sentence_prediction),
      F("nsp_document_buffer_size", &T::nsp_document_buffer_size),
  };
  return *fields;
}

template <>
const Fields<datasets::mlm::MaskingOptions>& FieldsOf() {
  using T = datasets::mlm::MaskingOptions;
  static const auto* fields = new Fields<T>{
      F("masked_lm_prob", &T::masked_lm_prob),
      F("max_predictions_per_seq", &T::max_predictions_per_seq),
      F("do_whole_word_mask", &T::do_whole_word_mask),
  };
  return *fields;
}

template <>
const Fields<datasets::mlm::DocumentReaderOptions>& FieldsOf() {
  using T = datasets::mlm::DocumentReaderOptions;
  static const auto* fields = new Fields<T>{F("skip_invalid_utf8", &T::skip_invalid_utf8)};
  return *fields;
}

template <>
const Fields<datasets::mlm::MlmStreamOptions>& FieldsOf() {
  using T = datasets::mlm::MlmStreamOptions;
  static const auto* fields = new Fields<T>{
      F("instances", &T::instances),     F("masking", &T::masking),
      F("reader", &T::reader),           F("dupe_factor", &T::dupe_factor),
      F("static_masking", &T::static_masking), F("seed", &T::seed),
  };
  return *fields;
}

template <>
const Fields<MaskedLmConfig>& FieldsOf() {
  using T = MaskedLmConfig;
  static const auto* fields =
      new Fields<T>{F("masked_positions_only", &T::masked_positions_only),
                    F("max_eval_batches", &T::max_eval_batches), F("eval_epoch", &T::eval_epoch)};
  return *fields;
}

template <>
const Fields<datasets::SquadFeatureConfig>& FieldsOf() {
  using T = datasets::SquadFeatureConfig;
  static const auto* fields = new Fields<T>{
      F("max_seq_length", &T::max_seq_length),
      F("doc_stride", &T::doc_stride),
      F("max_query_length", &T::max_query_length),
  };
  return *fields;
}

template <>
const Fields<datasets::SquadPostprocessConfig>& FieldsOf() {
  using T = datasets::SquadPostprocessConfig;
  static const auto* fields = new Fields<T>{
      F("n_best_size", &T::n_best_size),
      F("max_answer_length", &T::max_answer_length),
      F("version_2_with_negative", &T::version_2_with_negative),
      F("null_score_diff_threshold", &T::null_score_diff_threshold),
  };
  return *fields;
}

template <>
const Fields<QuestionAnsweringConfig>& FieldsOf() {
  using T = QuestionAnsweringConfig;
  static const auto* fields = new Fields<T>{
      F("postprocess", &T::postprocess),
      F("eval_batch_size", &T::eval_batch_size),
      F("output_dir", &T::output_dir),
  };
  return *fields;
}

template <>
const Fields<datasets::TextClassificationFileOptions>& FieldsOf() {
  using T = datasets::TextClassificationFileOptions;
  static const auto* fields = new Fields<T>{
      F("format", &T::format),
      F("label_list", &T::label_list),
      F("is_regression", &T::is_regression),
  };
  return *fields;
}

template <>
const Fields<ClassificationDataConfig>& FieldsOf() {
  using T = ClassificationDataConfig;
  static const auto* fields = new Fields<T>{
      F("task_name", &T::task_name),
      F("file_options", &T::file_options),
      F("max_seq_length", &T::max_seq_length),
  };
  return *fields;
}

template <>
const Fields<ClassificationConfig>& FieldsOf() {
  using T = ClassificationConfig;
  static const auto* fields = new Fields<T>{F("eval_batch_size", &T::eval_batch_size)};
  return *fields;
}

template <>
const Fields<datasets::DataLoaderOptions>& FieldsOf() {
  using T = datasets::DataLoaderOptions;
  static const auto* fields = new Fields<T>{
      F("batch_size", &T::batch_size),
      F("shuffle", &T::shuffle),
      F("seed", &T::seed),
      F("drop_last", &T::drop_last),
      F("padding", &T::padding),
      F("max_length", &T::max_length),
      F("pad_values", &T::pad_values),
      F("float_pad_values", &T::float_pad_values),
      F("shuffle_buffer_size", &T::shuffle_buffer_size),
  };
  return *fields;
}

template <>
const Fields<TaskSpec>& FieldsOf() {
  using T = TaskSpec;
  static const auto* fields = new Fields<T>{
      F("type", &T::type),
      F("train_files", &T::train_files),
      F("eval_files", &T::eval_files),
      F("max_train_examples", &T::max_train_examples),
      F("max_eval_examples", &T::max_eval_examples),
      F("metric", &T::metric),
      F("mlm", &T::mlm),
      F("mlm_eval", &T::mlm_eval),
      F("squad", &T::squad),
      F("qa_eval", &T::qa_eval),
      F("classification", &T::classification),
      F("classification_eval", &T::classification_eval),
      F("loader", &T::loader),
  };
  return *fields;
}

template <>
const Fields<ModelSpec>& FieldsOf() {
  using T = ModelSpec;
  static const auto* fields = new Fields<T>{
      F("from_stage", &T::from_stage),
      F("model_dir", &T::model_dir),
      F("preset", &T::preset),
      F("config_file", &T::config_file),
      F("architecture", &T::architecture),
      {"config_overrides",
       [](const Ctx& ctx, const Value& v, const std::string& key, T* out) {
         if (!v.is_map()) {
           return ValueError(ctx, v, key,
                             absl::StrCat("expected a map of config.json keys, got ", Describe(v)));
         }
         for (const auto& [name, child] : v.entries) {
           RETURN_IF_ERROR(
               ParseJsonText(ctx, child, JoinKey(key, name), &out->config_overrides[name]));
         }
         return absl::OkStatus();
       },
       [] { return std::vector<std::string>{}; }},
      F("seed", &T::seed),
  };
  return *fields;
}

template <>
const Fields<TokenizerSpec>& FieldsOf() {
  using T = TokenizerSpec;
  static const auto* fields =
      new Fields<T>{F("vocab", &T::vocab), F("do_lower_case", &T::do_lower_case)};
  return *fields;
}

// Keys of a shot (handled by ParseShot, listed here for the documentation).
std::vector<std::string> ShotKeys() {
  std::vector<std::string> keys;
  auto add = [&](const std::string& prefix, std::vector<std::string> sub) {
    keys.push_back(prefix);
    for (const std::string& s : sub) keys.push_back(JoinKey(prefix, s));
  };
  for (const std::string& prefix : {std::string("shots[]"), std::string("shots[].combine[]")}) {
    add(JoinKey(prefix, "pruning"), SubKeys(static_cast<const PruningConfig*>(nullptr)));
    add(JoinKey(prefix, "distillation"), SubKeys(static_cast<const DistillationConfig*>(nullptr)));
    add(JoinKey(prefix, "quantization"), SubKeys(static_cast<const QuantizationConfig*>(nullptr)));
  }
  keys.push_back("shots[].combine");
  add("shots[].training", SubKeys(static_cast<const TrainerConfig*>(nullptr)));
  return keys;
}

template <>
const Fields<StageSpec>& FieldsOf() {
  using T = StageSpec;
  static const auto* fields = new Fields<T>{
      F("name", &T::name),
      F("model", &T::model),
      F("teacher", &T::teacher),
      F("tokenizer", &T::tokenizer),
      F("task", &T::task),
      F("training", &T::training),
      Handled<T>("shots"),  // ParseShot, after `training`.
      F("evaluate", &T::evaluate),
      F("train", &T::train),
      F("export_onnx", &T::export_onnx),
  };
  return *fields;
}

template <>
const Fields<ReportRow>& FieldsOf() {
  using T = ReportRow;
  static const auto* fields = new Fields<T>{
      F("name", &T::name),
      F("stages", &T::stages),
      F("paper_row", &T::paper_row),
  };
  return *fields;
}

template <>
const Fields<ReportSpec>& FieldsOf() {
  using T = ReportSpec;
  static const auto* fields = new Fields<T>{
      F("title", &T::title),
      F("rows", &T::rows),
      F("baseline_row", &T::baseline_row),
      F("latency_batch_size", &T::latency_batch_size),
      F("latency_seq_length", &T::latency_seq_length),
      F("latency_iterations", &T::latency_iterations),
      F("bootstrap_resamples", &T::bootstrap_resamples),
      F("bootstrap_seed", &T::bootstrap_seed),
  };
  return *fields;
}

template <>
const Fields<Recipe>& FieldsOf() {
  using T = Recipe;
  static const auto* fields = new Fields<T>{
      F("name", &T::name),
      F("description", &T::description),
      F("output_dir", &T::output_dir),
      F("data_dir", &T::data_dir),
      F("model_dir", &T::model_dir),
      F("teacher_dir", &T::teacher_dir),
      F("seed", &T::seed),
      Handled<T>("stages"),  // BindStages: every stage key, checked stage by stage.
      F("report", &T::report),
  };
  return *fields;
}

// ---------------------------------------------------------------------------------------
// Validation helpers.

// The Value at a dotted sub-path ("weight.ch_axis", "layer_mappings[1].loss_type") of
// `section`, or the nearest one above it that exists.
const Value& Nearest(const Value& section, const std::string& path) {
  const Value* node = &section;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    std::string name(part);
    int64_t index = -1;
    if (size_t bracket = name.find('['); bracket != std::string::npos) {
      absl::SimpleAtoi(name.substr(bracket + 1, name.size() - bracket - 2), &index);
      name = name.substr(0, bracket);
    }
    const Value* child = node->is_map() ? node->Find(name) : nullptr;
    if (child == nullptr) return *node;
    node = child;
    if (index >= 0) {
      if (node->kind != Value::Kind::kSequence || index >= int64_t(node->items.size())) {
        return *node;
      }
      node = &node->items[index];
    }
  }
  return *node;
}

const Value kEmptyValue;

const Value& Child(const Value& map, const std::string& key) {
  const Value* child = map.is_map() ? map.Find(key) : nullptr;
  return child != nullptr ? *child : kEmptyValue;
}

// The line to report for `key` under `section`: its own, else the section's.
const Value& At(const Value& section, const std::string& key) {
  const Value& at = Nearest(section, key);
  return at.line > 0 || !at.origin.empty() ? at : section;
}

// A config's Validate(source) error ("<source>: <key> <problem>") as
// "file:line: <section_key>.<key>: <problem>", the line that of <key> when the recipe
// wrote it, else that of the section.
absl::Status Relocate(const Ctx& ctx, const Value& section, const std::string& section_key,
                      const absl::Status& status) {
  if (status.ok()) return status;
  static const std::string kSource = "\x01";
  std::string message(status.message());
  if (absl::StartsWith(message, kSource + ": ")) message = message.substr(kSource.size() + 2);
  size_t end = 0;
  while (end < message.size() &&
         (absl::ascii_isalnum(message[end]) || message[end] == '_' || message[end] == '.' ||
          message[end] == '[' || message[end] == ']')) {
    ++end;
  }
  const std::string sub = message.substr(0, end);
  std::string rest = message.substr(end);
  while (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
  if (sub.empty()) return ValueError(ctx, section, section_key, message, status.code());
  // The configs' messages start with the key they are about.
  return ValueError(ctx, At(section, sub), JoinKey(section_key, sub), rest, status.code());
}

template <typename Config>
absl::Status ValidateConfig(const Ctx& ctx, const Value& section, const std::string& key,
                            const Config& config) {
  return Relocate(ctx, section, key, config.Validate("\x01"));
}

bool IsUnder(const std::string& path, const std::string& dir) {
  if (dir.empty()) return false;
  std::error_code error;
  const std::string p = fs::absolute(path, error).lexically_normal().string();
  std::string d = fs::absolute(dir, error).lexically_normal().string();
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return p == d || absl::StartsWith(p, d + "/");
}

// ---------------------------------------------------------------------------------------
// Shots.

absl::Status ParseComponent(const Ctx& ctx, const Value& v, const std::string& key,
                            ComponentSpec* out) {
  if (!v.is_map() || v.entries.size() != 1) {
    return ValueError(ctx, v, key,
                      absl::StrCat("a combine entry is one of {pruning: ...}, {distillation: ...}, "
                                   "{quantization: ...}; got ",
                                   v.is_map() ? absl::StrCat(v.entries.size(), " keys")
                                              : Describe(v)));
  }
  const auto& [kind, config] = v.entries[0];
  const std::string child_key = JoinKey(key, kind);
  out->kind = kind;
  out->location = SourceLocation{ctx.file, v.line, key};
  if (kind == "pruning") return Parse(ctx, config, child_key, &out->pruning);
  if (kind == "distillation") return Parse(ctx, config, child_key, &out->distillation);
  if (kind == "quantization") return Parse(ctx, config, child_key, &out->quantization);
  if (kind == "combine") {
    return ValueError(ctx, config, child_key,
                      "a combination cannot contain another; list its parts in one combine:");
  }
  return ValueError(ctx, config, child_key,
                    "unknown component kind; known: pruning, distillation, quantization");
}

absl::Status ParseShot(const Ctx& ctx, const Value& v, const std::string& key,
                       const TrainerConfig& stage_training, ShotSpec* out) {
  out->location = SourceLocation{ctx.file, v.line, key};
  if (!v.is_map()) {
    return ValueError(ctx, v, key,
                      absl::StrCat("a shot is a map ({pruning: ...}, {combine: [...]}, ...), got ",
                                   Describe(v)));
  }
  std::vector<std::string> kinds;
  for (const auto& [name, child] : v.entries) {
    const std::string child_key = JoinKey(key, name);
    if (name == "training") {
      TrainerConfig training = stage_training;
      RETURN_IF_ERROR(Parse(ctx, child, child_key, &training));
      out->training = training;
    } else if (name == "combine") {
      kinds.push_back(name);
      if (child.kind != Value::Kind::kSequence) {
        return ValueError(ctx, child, child_key,
                          absl::StrCat("expected a list of components, got ", Describe(child)));
      }
      out->combine = true;
      for (size_t i = 0; i < child.items.size(); ++i) {
        ComponentSpec component;
        RETURN_IF_ERROR(
            ParseComponent(ctx, child.items[i], absl::StrCat(child_key, "[", i, "]"), &component));
        out->components.push_back(std::move(component));
      }
    } else if (name == "pruning" || name == "distillation" || name == "quantization") {
      kinds.push_back(name);
      Value single;
      single.kind = Value::Kind::kMap;
      single.line = child.line;
      single.origin = child.origin;
      single.entries.emplace_back(name, child);
      ComponentSpec component;
      RETURN_IF_ERROR(ParseComponent(ctx, single, key, &component));
      out->components.push_back(std::move(component));
    } else {
      return ValueError(ctx, child, child_key,
                        "unknown key; known keys here: pruning, distillation, quantization, "
                        "combine, training");
    }
  }
  if (kinds.empty()) {
    return ValueError(ctx, v, key,
                      "a shot needs one of pruning, distillation, quantization or combine");
  }
  if (kinds.size() > 1) {
    return ValueError(ctx, v, key,
                      absl::StrCat("has ", absl::StrJoin(kinds, " and "),
                                   "; a shot is one component, or several listed under combine:"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// Semantic checks of one stage (the structs are bound; `sv` is the stage's tree).

const std::set<std::string>& AllArchitectures() {
  static const auto* all = [] {
    auto* set = new std::set<std::string>;
    for (const char* type : {"bert", "distilbert"}) {
      for (const std::string& a : models::SupportedArchitectures(type)) set->insert(a);
    }
    return set;
  }();
  return *all;
}

absl::Status CheckModelSpec(const Ctx& ctx, const Value& mv, const std::string& key,
                            const ModelSpec& model, const std::vector<std::string>& earlier,
                            const std::vector<std::string>& all_stages) {
  std::vector<std::string> sources;
  if (!model.from_stage.empty()) sources.push_back("from_stage");
  if (!model.model_dir.empty()) sources.push_back("model_dir");
  if (!model.preset.empty()) sources.push_back("preset");
  if (!model.config_file.empty()) sources.push_back("config_file");
  if (sources.size() != 1) {
    return ValueError(ctx, mv, key,
                      absl::StrCat("give exactly one of from_stage, model_dir, preset, "
                                   "config_file; got ",
                                   sources.empty() ? "none" : absl::StrJoin(sources, ", ")));
  }
  if (!model.from_stage.empty() &&
      std::find(earlier.begin(), earlier.end(), model.from_stage) == earlier.end()) {
    const bool later = std::find(all_stages.begin(), all_stages.end(), model.from_stage) !=
                       all_stages.end();
    return ValueError(
        ctx, At(mv, "from_stage"), JoinKey(key, "from_stage"),
        absl::StrCat("\"", model.from_stage, "\" names no earlier stage",
                     later ? " (it runs at or after this one)" : "", "; earlier stages: ",
                     earlier.empty() ? "none" : absl::StrJoin(earlier, ", ")));
  }
  if (!model.preset.empty()) {
    absl::StatusOr<models::BertConfig> preset = models::BertConfigPreset(model.preset);
    if (!preset.ok()) {
      return ValueError(ctx, At(mv, "preset"), JoinKey(key, "preset"),
                        std::string(preset.status().message()));
    }
    const auto& supported = models::SupportedArchitectures(preset->model_type);
    if (std::find(supported.begin(), supported.end(), model.architecture) == supported.end()) {
      return ValueError(ctx, At(mv, "architecture"), JoinKey(key, "architecture"),
                        absl::StrCat(model.architecture.empty()
                                         ? std::string("is required with preset")
                                         : absl::StrCat("\"", model.architecture,
                                                        "\" does not fit preset ", model.preset),
                                     "; supported: ", absl::StrJoin(supported, ", ")));
    }
  }
  if (!model.config_file.empty() && model.architecture.empty()) {
    return ValueError(ctx, mv, JoinKey(key, "architecture"),
                      "is required with config_file (random initialisation needs a head)");
  }
  if (!model.architecture.empty() && AllArchitectures().count(model.architecture) == 0) {
    return ValueError(ctx, At(mv, "architecture"), JoinKey(key, "architecture"),
                      absl::StrCat("\"", model.architecture, "\" is unknown; supported: ",
                                   absl::StrJoin(AllArchitectures(), ", ")));
  }
  return absl::OkStatus();
}

std::vector<std::string> DefaultLogitNames(const std::string& task_type) {
  if (task_type == "question_answering") return {"start_logits", "end_logits"};
  if (task_type == "classification") return {"logits"};
  return {};
}

absl::Status CheckTask(const Ctx& ctx, const Value& tv, const std::string& key,
                       const StageSpec& stage) {
  const TaskSpec& task = stage.task;
  static const std::map<std::string, std::vector<std::string>> kOwnKeys = {
      {"masked_lm", {"mlm", "mlm_eval"}},
      {"question_answering", {"squad", "qa_eval"}},
      {"classification", {"classification", "classification_eval"}},
  };
  auto own = kOwnKeys.find(task.type);
  if (own == kOwnKeys.end()) {
    return ValueError(ctx, At(tv, "type"), JoinKey(key, "type"),
                      absl::StrCat(task.type.empty() ? std::string("is required")
                                                     : absl::StrCat("\"", task.type, "\" is unknown"),
                                   "; supported: masked_lm, question_answering, classification"));
  }
  for (const auto& [type, keys] : kOwnKeys) {
    if (type == task.type) continue;
    for (const std::string& k : keys) {
      if (tv.is_map() && tv.Find(k) != nullptr) {
        return ValueError(ctx, *tv.Find(k), JoinKey(key, k),
                          absl::StrCat("applies to type ", type, ", but this task is ", task.type));
      }
    }
  }
  const bool trains = stage.train;
  if (trains && task.train_files.empty()) {
    return ValueError(ctx, tv, JoinKey(key, "train_files"),
                      "is required when the stage trains (or set train: false)");
  }
  if (stage.evaluate && task.eval_files.empty()) {
    return ValueError(ctx, tv, JoinKey(key, "eval_files"),
                      "is required when the stage evaluates (or set evaluate: false)");
  }
  for (const char* k : {"max_train_examples", "max_eval_examples"}) {
    const int64_t value =
        std::string(k) == "max_train_examples" ? task.max_train_examples : task.max_eval_examples;
    if (value < 0) {
      return ValueError(ctx, At(tv, k), JoinKey(key, k),
                        absl::StrCat("must not be negative (0: all), got ", value));
    }
  }
  if (task.type == "masked_lm") {
    absl::Status status = datasets::mlm::ValidateMlmStreamOptions(task.mlm);
    if (!status.ok()) {
      std::string message(status.message());
      for (const auto& [from, to] :
           std::vector<std::pair<std::string, std::string>>{{"InstanceOptions.", "instances."},
                                                            {"MaskingOptions.", "masking."},
                                                            {"MlmStreamOptions.", ""}}) {
        if (absl::StartsWith(message, from)) {
          message = to + message.substr(from.size());
          break;
        }
      }
      return Relocate(ctx, Child(tv, "mlm"), JoinKey(key, "mlm"),
                      absl::Status(status.code(), absl::StrCat("\x01: ", message)));
    }
    if (task.mlm_eval.max_eval_batches < 0) {
      return ValueError(ctx, At(tv, "mlm_eval.max_eval_batches"),
                        JoinKey(key, "mlm_eval.max_eval_batches"),
                        absl::StrCat("must not be negative (0: all), got ",
                                     task.mlm_eval.max_eval_batches));
    }
  }
  if (task.type == "question_answering") {
    const auto& squad = task.squad;
    if (squad.max_seq_length < 4) {
      return ValueError(ctx, At(tv, "squad.max_seq_length"), JoinKey(key, "squad.max_seq_length"),
                        absl::StrCat("must be at least 4, got ", squad.max_seq_length));
    }
    if (squad.doc_stride < 1) {
      return ValueError(ctx, At(tv, "squad.doc_stride"), JoinKey(key, "squad.doc_stride"),
                        absl::StrCat("must be at least 1, got ", squad.doc_stride));
    }
    if (squad.max_query_length < 1 || squad.max_query_length >= squad.max_seq_length - 3) {
      return ValueError(ctx, At(tv, "squad.max_query_length"),
                        JoinKey(key, "squad.max_query_length"),
                        absl::StrCat("must be in [1, max_seq_length - 3 = ",
                                     squad.max_seq_length - 3, "), got ", squad.max_query_length));
    }
    const auto& post = task.qa_eval.postprocess;
    if (post.n_best_size < 1 || post.max_answer_length < 1) {
      return ValueError(ctx, At(tv, "qa_eval.postprocess"), JoinKey(key, "qa_eval.postprocess"),
                        absl::StrCat("n_best_size and max_answer_length must be at least 1, got ",
                                     post.n_best_size, " and ", post.max_answer_length));
    }
    if (task.qa_eval.eval_batch_size < 1) {
      return ValueError(ctx, At(tv, "qa_eval.eval_batch_size"),
                        JoinKey(key, "qa_eval.eval_batch_size"),
                        absl::StrCat("must be at least 1, got ", task.qa_eval.eval_batch_size));
    }
  }
  if (task.type == "classification") {
    const auto& data = task.classification;
    if (data.max_seq_length < 3) {
      return ValueError(ctx, At(tv, "classification.max_seq_length"),
                        JoinKey(key, "classification.max_seq_length"),
                        absl::StrCat("must be at least 3, got ", data.max_seq_length));
    }
    const std::string& format = data.file_options.format;
    if (!format.empty() && format != "tsv" && format != "jsonl") {
      return ValueError(ctx, At(tv, "classification.file_options.format"),
                        JoinKey(key, "classification.file_options.format"),
                        absl::StrCat("is \"", format, "\"; supported: tsv, jsonl, \"\" (from the "
                                     "file's extension)"));
    }
    if (task.classification_eval.eval_batch_size < 1) {
      return ValueError(ctx, At(tv, "classification_eval.eval_batch_size"),
                        JoinKey(key, "classification_eval.eval_batch_size"),
                        absl::StrCat("must be at least 1, got ",
                                     task.classification_eval.eval_batch_size));
    }
  }
  const datasets::DataLoaderOptions& loader = task.loader;
  if (loader.batch_size < 1) {
    return ValueError(ctx, At(tv, "loader.batch_size"), JoinKey(key, "loader.batch_size"),
                      absl::StrCat("must be at least 1, got ", loader.batch_size));
  }
  if (loader.padding != "longest" && loader.padding != "max_length") {
    return ValueError(ctx, At(tv, "loader.padding"), JoinKey(key, "loader.padding"),
                      absl::StrCat("is \"", loader.padding, "\"; supported: longest, max_length"));
  }
  if (loader.padding == "max_length" && loader.max_length < 1) {
    return ValueError(ctx, At(tv, "loader.max_length"), JoinKey(key, "loader.max_length"),
                      absl::StrCat("must be at least 1 with padding max_length, got ",
                                   loader.max_length));
  }
  return absl::OkStatus();
}

absl::Status CheckShots(const Ctx& ctx, const Value& sv, const std::string& key,
                        StageSpec& stage) {
  const Value& shots_value = Child(sv, "shots");
  if (!stage.train && !stage.shots.empty()) {
    return ValueError(ctx, shots_value, JoinKey(key, "shots"),
                      "an eval-only stage (train: false) cannot have shots");
  }
  for (size_t s = 0; s < stage.shots.size(); ++s) {
    ShotSpec& shot = stage.shots[s];
    const std::string shot_key = absl::StrCat(key, ".shots[", s, "]");
    const Value& shot_value =
        shots_value.kind == Value::Kind::kSequence ? shots_value.items[s] : shots_value;
    if (shot.training.has_value()) {
      RETURN_IF_ERROR(ValidateConfig(ctx, Child(shot_value, "training"),
                                     JoinKey(shot_key, "training"), *shot.training));
    }
    if (shot.combine && shot.components.size() < 2) {
      return ValueError(ctx, Child(shot_value, "combine"), JoinKey(shot_key, "combine"),
                        absl::StrCat("needs at least two components, got ",
                                     shot.components.size(),
                                     "; write a single component without combine:"));
    }
    std::map<std::string, size_t> seen;
    for (size_t c = 0; c < shot.components.size(); ++c) {
      ComponentSpec& component = shot.components[c];
      const std::string component_key =
          shot.combine ? absl::StrCat(shot_key, ".combine[", c, "]") : shot_key;
      const Value& component_value =
          shot.combine ? Child(shot_value, "combine").items[c] : shot_value;
      const Value& config_value = Child(component_value, component.kind);
      const std::string config_key = JoinKey(component_key, component.kind);
      if (auto it = seen.find(component.kind); it != seen.end()) {
        return ValueError(
            ctx, component_value, component_key,
            absl::StrCat(component.kind, " repeats combine[", it->second, "]; each kind "
                         "(pruning, distillation, quantization) may appear at most once in "
                         "a combination"));
      }
      seen[component.kind] = c;
      if (component.kind == "pruning") {
        for (const auto& [name, value] :
             {std::make_pair("target_sparsity", component.pruning.target_sparsity),
              std::make_pair("initial_sparsity", component.pruning.initial_sparsity)}) {
          if (!(value >= 0.0 && value < 1.0)) {
            return ValueError(ctx, At(config_value, name), JoinKey(config_key, name),
                              absl::StrCat(value, " is outside [0, 1)"));
          }
        }
        RETURN_IF_ERROR(ValidateConfig(ctx, config_value, config_key, component.pruning));
      } else if (component.kind == "distillation") {
        if (!stage.teacher.has_value()) {
          return ValueError(ctx, config_value, config_key,
                            absl::StrCat("a distillation component needs a teacher: add teacher: "
                                         "{from_stage: ...} (or model_dir) to stage ",
                                         stage.name));
        }
        DistillationConfig& kd = component.distillation;
        if (kd.logit_names.empty() && kd.layer_mappings.empty()) {
          kd.logit_names = DefaultLogitNames(stage.task.type);
        }
        RETURN_IF_ERROR(ValidateConfig(ctx, config_value, config_key, kd));
      } else {
        RETURN_IF_ERROR(ValidateConfig(ctx, config_value, config_key, component.quantization));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckFileExists(const Ctx& ctx, const Value& at, const std::string& key,
                             const std::string& path, const std::string& output_dir,
                             bool directory_with_config = false) {
  if (IsUnder(path, output_dir)) return absl::OkStatus();  // Made by an earlier stage.
  std::error_code error;
  if (directory_with_config) {
    if (!fs::is_directory(path, error)) {
      return ValueError(ctx, at, key, absl::StrCat(path, " is not a directory"),
                        absl::StatusCode::kNotFound);
    }
    const std::string config = (fs::path(path) / "config.json").string();
    if (!fs::is_regular_file(config, error)) {
      return ValueError(ctx, at, key, absl::StrCat(config, " does not exist"),
                        absl::StatusCode::kNotFound);
    }
    return absl::OkStatus();
  }
  if (!fs::is_regular_file(path, error)) {
    return ValueError(ctx, at, key, absl::StrCat(path, " does not exist"),
                      absl::StatusCode::kNotFound);
  }
  return absl::OkStatus();
}

absl::Status CheckStageFiles(const Ctx& ctx, const Value& sv, const std::string& key,
                             const StageSpec& stage, const std::string& output_dir) {
  for (const auto& [spec, name] :
       {std::make_pair(&stage.model, std::string("model")),
        std::make_pair(stage.teacher.has_value() ? &*stage.teacher : nullptr,
                       std::string("teacher"))}) {
    if (spec == nullptr) continue;
    const Value& mv = Child(sv, name);
    if (!spec->model_dir.empty()) {
      RETURN_IF_ERROR(CheckFileExists(ctx, At(mv, "model_dir"), JoinKey(key, name + ".model_dir"),
                                      spec->model_dir, output_dir, true));
    }
    if (!spec->config_file.empty()) {
      RETURN_IF_ERROR(CheckFileExists(ctx, At(mv, "config_file"),
                                      JoinKey(key, name + ".config_file"), spec->config_file,
                                      output_dir));
    }
  }
  RETURN_IF_ERROR(CheckFileExists(ctx, At(Child(sv, "tokenizer"), "vocab"),
                                  JoinKey(key, "tokenizer.vocab"), stage.tokenizer.vocab,
                                  output_dir));
  const Value& tv = Child(sv, "task");
  auto check_list = [&](const std::vector<std::string>& files, const std::string& list) {
    for (size_t i = 0; i < files.size(); ++i) {
      const std::string item_key = absl::StrCat(list, "[", i, "]");
      RETURN_IF_ERROR(CheckFileExists(ctx, At(tv, item_key), JoinKey(key, "task." + item_key),
                                      files[i], output_dir));
    }
    return absl::OkStatus();
  };
  if (stage.train) RETURN_IF_ERROR(check_list(stage.task.train_files, "train_files"));
  if (stage.evaluate) RETURN_IF_ERROR(check_list(stage.task.eval_files, "eval_files"));
  return absl::OkStatus();
}

bool IsGoodStageName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.';
         });
}

absl::Status BindStages(const Ctx& ctx, const Value& root, Recipe* recipe) {
  const Value* stages = root.Find("stages");
  if (stages == nullptr || stages->kind != Value::Kind::kSequence || stages->items.empty()) {
    return ValueError(ctx, stages != nullptr ? *stages : root, "stages",
                      "a recipe needs a non-empty list of stages");
  }
  std::vector<std::string> all_names;
  for (const Value& sv : stages->items) {
    const Value* name = sv.is_map() ? sv.Find("name") : nullptr;
    all_names.push_back(name != nullptr && name->kind == Value::Kind::kScalar ? name->scalar : "");
  }
  std::vector<std::string> earlier;
  std::map<std::string, int> first_line;
  for (size_t i = 0; i < stages->items.size(); ++i) {
    const Value& sv = stages->items[i];
    const std::string& name = all_names[i];
    const std::string key = IsGoodStageName(name) ? absl::StrCat("stages[", name, "]")
                                                  : absl::StrCat("stages[", i, "]");
    StageSpec stage;
    RETURN_IF_ERROR(Parse(ctx, sv, key, &stage));
    if (!sv.is_map()) return ValueError(ctx, sv, key, "expected a stage map");
    if (!IsGoodStageName(stage.name)) {
      return ValueError(ctx, At(sv, "name"), JoinKey(key, "name"),
                        absl::StrCat(stage.name.empty()
                                         ? std::string("is required")
                                         : absl::StrCat("\"", stage.name, "\" is not usable"),
                                     " (it names the stage's output directory: letters, digits, "
                                     "_ - . only)"));
    }
    if (auto it = first_line.find(stage.name); it != first_line.end()) {
      return ValueError(ctx, At(sv, "name"), JoinKey(key, "name"),
                        absl::StrCat("duplicate stage name \"", stage.name,
                                     "\" (first used on line ", it->second, ")"));
    }
    first_line[stage.name] = At(sv, "name").line;
    if (const Value* shots = sv.Find("shots")) {
      if (shots->kind != Value::Kind::kSequence && shots->kind != Value::Kind::kNull) {
        return ValueError(ctx, *shots, JoinKey(key, "shots"),
                          absl::StrCat("expected a list of shots, got ", Describe(*shots)));
      }
      for (size_t s = 0; s < shots->items.size(); ++s) {
        ShotSpec shot;
        RETURN_IF_ERROR(ParseShot(ctx, shots->items[s], absl::StrCat(key, ".shots[", s, "]"),
                                  stage.training, &shot));
        stage.shots.push_back(std::move(shot));
      }
    }
    if (sv.Find("model") == nullptr) {
      return ValueError(ctx, sv, JoinKey(key, "model"),
                        "is required (from_stage, model_dir, preset or config_file)");
    }
    RETURN_IF_ERROR(
        CheckModelSpec(ctx, Child(sv, "model"), JoinKey(key, "model"), stage.model, earlier,
                       all_names));
    if (stage.teacher.has_value()) {
      RETURN_IF_ERROR(CheckModelSpec(ctx, Child(sv, "teacher"), JoinKey(key, "teacher"),
                                     *stage.teacher, earlier, all_names));
    }
    // A Hugging Face model directory usually carries its vocabulary (vocab.txt, or only
    // tokenizer.json).
    for (const char* file : {"vocab.txt", "tokenizer.json"}) {
      if (!stage.tokenizer.vocab.empty() || stage.model.model_dir.empty()) break;
      const std::string vocab = (fs::path(stage.model.model_dir) / file).string();
      std::error_code error;
      if (fs::is_regular_file(vocab, error)) stage.tokenizer.vocab = vocab;
    }
    if (stage.tokenizer.vocab.empty()) {
      return ValueError(ctx, At(sv, "tokenizer"), JoinKey(key, "tokenizer.vocab"),
                        "is required (here or in the recipe's top-level tokenizer:)");
    }
    if (sv.Find("task") == nullptr) {
      return ValueError(ctx, sv, JoinKey(key, "task"), "is required");
    }
    RETURN_IF_ERROR(CheckTask(ctx, Child(sv, "task"), JoinKey(key, "task"), stage));
    RETURN_IF_ERROR(ValidateConfig(ctx, Child(sv, "training"), JoinKey(key, "training"),
                                   stage.training));
    if (!stage.train && !stage.evaluate) {
      return ValueError(ctx, At(sv, "train"), JoinKey(key, "train"),
                        "is false and evaluate is false: the stage would do nothing");
    }
    RETURN_IF_ERROR(CheckShots(ctx, sv, key, stage));
    earlier.push_back(stage.name);
    recipe->stages.push_back(std::move(stage));
  }
  return absl::OkStatus();
}

absl::Status CheckReport(const Ctx& ctx, const Value& root, const Recipe& recipe) {
  if (!recipe.report.has_value()) return absl::OkStatus();
  const ReportSpec& report = *recipe.report;
  const Value& rv = Child(root, "report");
  if (report.rows.empty()) {
    return ValueError(ctx, rv, "report.rows", "a report needs at least one row");
  }
  std::set<std::string> stage_names;
  for (const StageSpec& stage : recipe.stages) stage_names.insert(stage.name);
  std::set<std::string> row_names;
  for (size_t r = 0; r < report.rows.size(); ++r) {
    const ReportRow& row = report.rows[r];
    const std::string key = absl::StrCat("report.rows[", r, "]");
    const Value& row_value = Nearest(rv, absl::StrCat("rows[", r, "]"));
    if (row.name.empty()) return ValueError(ctx, row_value, JoinKey(key, "name"), "is required");
    if (!row_names.insert(row.name).second) {
      return ValueError(ctx, At(row_value, "name"), JoinKey(key, "name"),
                        absl::StrCat("duplicate row name \"", row.name, "\""));
    }
    if (row.stages.empty()) {
      return ValueError(ctx, row_value, JoinKey(key, "stages"),
                        "needs at least one column group: stage (e.g. {qa: finetune_qa})");
    }
    for (const auto& [group, stage] : row.stages) {
      if (stage_names.count(stage) == 0) {
        return ValueError(ctx, At(row_value, "stages." + group), JoinKey(key, "stages." + group),
                          absl::StrCat("\"", stage, "\" names no stage; stages: ",
                                       absl::StrJoin(stage_names, ", ")));
      }
    }
  }
  if (!report.baseline_row.empty() && row_names.count(report.baseline_row) == 0) {
    return ValueError(ctx, At(rv, "baseline_row"), "report.baseline_row",
                      absl::StrCat("\"", report.baseline_row, "\" names no row; rows: ",
                                   absl::StrJoin(row_names, ", ")));
  }
  for (const auto& [name, value] :
       {std::make_pair("latency_batch_size", report.latency_batch_size),
        std::make_pair("latency_seq_length", report.latency_seq_length),
        std::make_pair("latency_iterations", report.latency_iterations)}) {
    if (value < 1) {
      return ValueError(ctx, At(rv, name), JoinKey("report", name),
                        absl::StrCat("must be at least 1, got ", value));
    }
  }
  if (report.bootstrap_resamples < 0) {
    return ValueError(ctx, At(rv, "bootstrap_resamples"), "report.bootstrap_resamples",
                      absl::StrCat("must be 0 (no intervals) or more, got ",
                                   report.bootstrap_resamples));
  }
  return absl::OkStatus();
}

std::string VariableValue(const Value& root, const std::string& name) {
  const Value* value = root.Find(name);
  return value != nullptr && value->kind == Value::Kind::kScalar ? value->scalar : "";
}

absl::StatusOr<Value> ParseOverrideValue(const Ctx& ctx, const std::string& key,
                                         const std::string& text, const std::string& origin) {
  YAML::Node node;
  try {
    node = YAML::Load(ProtectVariables(text));
  } catch (const YAML::Exception& e) {
    return MakeError(ctx.file, 0, key,
                     absl::StrCat("cannot parse the value \"", text, "\" of ", origin, ": ", e.msg));
  }
  return FromYaml(node, ctx, key, origin, 0, 0);
}

}  // namespace

std::vector<std::string> RecipeKeyPaths() {
  std::vector<std::string> keys;
  for (const Field<Recipe>& field : FieldsOf<Recipe>()) {
    keys.push_back(field.name);
    for (const std::string& sub : field.subkeys()) keys.push_back(JoinKey(field.name, sub));
  }
  for (const char* top : {"profiles", "defaults", "tokenizer", "tokenizer.vocab",
                          "tokenizer.do_lower_case"}) {
    keys.push_back(top);
  }
  for (const Field<StageSpec>& field : FieldsOf<StageSpec>()) {
    const std::string key = JoinKey("stages[]", field.name);
    keys.push_back(key);
    for (const std::string& sub : field.subkeys()) keys.push_back(JoinKey(key, sub));
  }
  for (const std::string& shot : ShotKeys()) keys.push_back(JoinKey("stages[]", shot));
  keys.push_back("stages[].shots[].quantization.preset");
  return keys;
}

absl::StatusOr<Recipe> LoadRecipe(const std::string& path, const RecipeOverrides& overrides) {
  Ctx ctx{path};
  std::error_code fs_error;
  if (!fs::is_regular_file(path, fs_error)) {
    return absl::NotFoundError(absl::StrCat(path, ": recipe file does not exist"));
  }
  std::ifstream file(path, std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  if (!file.good() && !file.eof()) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read the recipe file"));
  }
  YAML::Node document;
  try {
    document = YAML::Load(ProtectVariables(contents.str()));
  } catch (const YAML::Exception& e) {
    return MakeError(path, LineOf(e.mark), "", absl::StrCat("not valid YAML: ", e.msg));
  }
  ASSIGN_OR_RETURN(Value root, FromYaml(document, ctx, "", "", 1, 0));
  if (!root.is_map()) {
    return MakeError(path, 1, "", absl::StrCat("a recipe is a map of keys, got ", Describe(root)));
  }

  // Profile, then --set, then the directory flags, in that order of precedence (last wins).
  Value profiles;
  if (Value* found = root.Find("profiles")) {
    profiles = *found;
    root.Erase("profiles");
    if (profiles.kind != Value::Kind::kMap && profiles.kind != Value::Kind::kNull) {
      return ValueError(ctx, profiles, "profiles",
                        absl::StrCat("expected a map of profile names, got ", Describe(profiles)));
    }
  }
  if (!overrides.profile.empty()) {
    const Value* profile = profiles.is_map() ? profiles.Find(overrides.profile) : nullptr;
    if (profile == nullptr) {
      std::vector<std::string> names;
      for (const auto& [name, unused] : profiles.entries) names.push_back(name);
      return MakeError(path, 0, "profiles",
                       absl::StrCat("no profile \"", overrides.profile, "\" (profiles: ",
                                    names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }
    if (profile->kind != Value::Kind::kMap && profile->kind != Value::Kind::kNull) {
      return ValueError(ctx, *profile, JoinKey("profiles", overrides.profile),
                        absl::StrCat("expected a map of dotted keys, got ", Describe(*profile)));
    }
    for (const auto& [dotted, value] : profile->entries) {
      RETURN_IF_ERROR(ApplyOverride(ctx, &root, dotted, value, value.line,
                                    absl::StrCat("profile ", overrides.profile)));
    }
  }
  for (const auto& [dotted, text] : overrides.set) {
    const std::string origin = absl::StrCat("--set ", dotted, "=", text);
    ASSIGN_OR_RETURN(Value value, ParseOverrideValue(ctx, dotted, text, origin));
    RETURN_IF_ERROR(ApplyOverride(ctx, &root, dotted, std::move(value), 0, origin));
  }
  for (const auto& [name, flag] : {std::make_pair("output_dir", &overrides.output_dir),
                                   std::make_pair("data_dir", &overrides.data_dir),
                                   std::make_pair("model_dir", &overrides.model_dir),
                                   std::make_pair("teacher_dir", &overrides.teacher_dir)}) {
    if (flag->empty()) continue;
    Value value;
    value.kind = Value::Kind::kScalar;
    value.scalar = *flag;
    value.origin = absl::StrCat("--", name);
    root.Set(name, std::move(value));
  }

  // Defaults: data_dir "data", output_dir "out/<name>", name = the file's stem.
  if (VariableValue(root, "name").empty()) {
    Value value;
    value.kind = Value::Kind::kScalar;
    value.scalar = fs::path(path).stem().string();
    root.Set("name", std::move(value));
  }
  if (root.Find("data_dir") == nullptr) {
    Value value;
    value.kind = Value::Kind::kScalar;
    value.scalar = "data";
    root.Set("data_dir", std::move(value));
  }
  if (root.Find("output_dir") == nullptr) {
    Value value;
    value.kind = Value::Kind::kScalar;
    value.scalar = absl::StrCat("out/", VariableValue(root, "name"));
    root.Set("output_dir", std::move(value));
  }

  // data_dir, model_dir and teacher_dir are plain; output_dir may use them.
  std::map<std::string, std::string> variables;
  for (const char* name : {"data_dir", "model_dir", "teacher_dir", "output_dir"}) {
    const Value* value = root.Find(name);
    if (value == nullptr) {
      variables[name] = "";
      continue;
    }
    if (value->kind != Value::Kind::kScalar) {
      return ValueError(ctx, *value, name,
                        absl::StrCat("expected a directory, got ", Describe(*value)));
    }
    if (std::string(name) == "output_dir") {
      Value resolved = *value;
      std::map<std::string, std::string> others = variables;
      RETURN_IF_ERROR(Substitute(ctx, &resolved, name, others));
      variables[name] = resolved.scalar;
      continue;
    }
    if (value->scalar.find("${") != std::string::npos) {
      return ValueError(ctx, *value, name,
                        "cannot use ${...} (only output_dir may, to name the other directories)");
    }
    variables[name] = value->scalar;
  }
  RETURN_IF_ERROR(Substitute(ctx, &root, "", variables));

  // Stage defaults: `defaults:` (any stage keys) and the top-level `tokenizer:`.
  Value defaults;
  defaults.kind = Value::Kind::kMap;
  if (Value* found = root.Find("defaults")) {
    if (found->kind != Value::Kind::kMap && found->kind != Value::Kind::kNull) {
      return ValueError(ctx, *found, "defaults",
                        absl::StrCat("expected a map of stage keys, got ", Describe(*found)));
    }
    if (const Value* name = found->Find("name")) {
      return ValueError(ctx, *name, "defaults.name", "every stage names itself");
    }
    defaults = *found;
    defaults.kind = Value::Kind::kMap;
    root.Erase("defaults");
  }
  if (Value* tokenizer = root.Find("tokenizer")) {
    if (defaults.Find("tokenizer") != nullptr) {
      return ValueError(ctx, *tokenizer, "tokenizer",
                        "given both at the top level and in defaults:; keep one");
    }
    defaults.Set("tokenizer", *tokenizer);
    root.Erase("tokenizer");
  }
  if (Value* stages = root.Find("stages"); stages != nullptr && !defaults.entries.empty()) {
    for (Value& stage : stages->items) {
      if (stage.is_map()) MergeDefaults(&stage, defaults);
    }
  }

  Recipe recipe;
  recipe.source = path;
  RETURN_IF_ERROR(BindMap(ctx, root, "", FieldsOf<Recipe>(), &recipe));
  RETURN_IF_ERROR(BindStages(ctx, root, &recipe));
  RETURN_IF_ERROR(CheckReport(ctx, root, recipe));
  const Value* stages = root.Find("stages");
  for (size_t i = 0; i < recipe.stages.size(); ++i) {
    RETURN_IF_ERROR(CheckStageFiles(ctx, stages->items[i],
                                    absl::StrCat("stages[", recipe.stages[i].name, "]"),
                                    recipe.stages[i], recipe.output_dir));
  }
  return recipe;
}

}  // namespace recipes
