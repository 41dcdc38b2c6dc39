#include "models/tokenizers/model_inputs.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tokenizers {
namespace {

struct NamedTruncation {
  const char* name;
  Truncation truncation;
};

constexpr NamedTruncation kTruncations[] = {
    {"longest_first", Truncation::kLongestFirst},
    {"only_first", Truncation::kOnlyFirst},
    {"only_second", Truncation::kOnlySecond},
    {"do_not_truncate", Truncation::kDoNotTruncate},
};

// How many tokens to cut from the end of each sequence, following HF's slow
// truncate_sequences; errors where it would log one and give up.
absl::Status PlanTruncation(int64_t remove, int64_t first_length, const Encoding* second,
                            const ModelInputsOptions& options, int64_t* cut_first,
                            int64_t* cut_second) {
  *cut_first = 0;
  *cut_second = 0;
  if (remove <= 0 || options.truncation == Truncation::kDoNotTruncate) {
    return absl::OkStatus();
  }
  const int64_t second_length = second ? static_cast<int64_t>(second->ids.size()) : 0;
  const auto impossible = [&](const char* which, int64_t length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot truncate to max_length=", options.max_length, " with truncation=",
        TruncationName(options.truncation), ": ", remove, " tokens must go but the ", which,
        " sequence has ", length));
  };
  if (options.truncation == Truncation::kOnlyFirst ||
      (options.truncation == Truncation::kLongestFirst && second == nullptr)) {
    if (first_length <= remove) return impossible("first", first_length);
    *cut_first = remove;
    return absl::OkStatus();
  }
  if (options.truncation == Truncation::kOnlySecond) {
    if (second == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot truncate to max_length=", options.max_length,
          " with truncation=only_second: there is no second sequence and ", remove,
          " tokens must go"));
    }
    if (second_length <= remove) return impossible("second", second_length);
    *cut_second = remove;
    return absl::OkStatus();
  }
  // longest_first with a pair: HF may empty both sequences but cannot cut the specials.
  if (remove > first_length + second_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot truncate to max_length=", options.max_length,
        ": the special tokens alone need more (", remove - first_length - second_length,
        " tokens too many even with both sequences removed)"));
  }
  int64_t a = first_length, b = second_length;
  for (int64_t i = 0; i < remove; ++i) {
    if (a > b) {
      --a;
    } else {
      --b;
    }
  }
  *cut_first = first_length - a;
  *cut_second = second_length - b;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Truncation> ParseTruncation(absl::string_view name) {
  for (const NamedTruncation& named : kTruncations) {
    if (name == named.name) return named.truncation;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown truncation strategy \"", name,
      "\"; known: longest_first, only_first, only_second, do_not_truncate"));
}

const char* TruncationName(Truncation truncation) {
  for (const NamedTruncation& named : kTruncations) {
    if (truncation == named.truncation) return named.name;
  }
  return "unknown";
}

absl::StatusOr<ModelInputs> BuildModelInputs(const Tokenizer& tokenizer, const Encoding& first,
                                             const Encoding* second,
                                             const ModelInputsOptions& options) {
  for (const Encoding* encoding : {&first, second}) {
    if (encoding != nullptr && (encoding->tokens.size() != encoding->ids.size() ||
                                encoding->offsets.size() != encoding->ids.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Encoding has ", encoding->tokens.size(), " tokens, ", encoding->ids.size(),
          " ids and ", encoding->offsets.size(), " offsets; they must match"));
    }
  }
  const bool limited = options.truncation != Truncation::kDoNotTruncate ||
                       options.pad_to_max_length;
  if (limited && options.max_length <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ModelInputsOptions.max_length must be positive, got ",
                     options.max_length));
  }
  const int64_t first_length = static_cast<int64_t>(first.ids.size());
  const int64_t second_length = second ? static_cast<int64_t>(second->ids.size()) : 0;
  const int64_t num_specials = options.add_special_tokens ? (second ? 3 : 2) : 0;
  const int64_t total = first_length + second_length + num_specials;

  ModelInputs inputs;
  absl::Status planned =
      PlanTruncation(total - options.max_length, first_length, second, options,
                     &inputs.num_truncated_first, &inputs.num_truncated_second);
  if (!planned.ok()) return planned;

  const auto add = [&](std::string token, int64_t id, int64_t type_id,
                       std::pair<int64_t, int64_t> offsets, int sequence_id) {
    inputs.tokens.push_back(std::move(token));
    inputs.input_ids.push_back(id);
    inputs.token_type_ids.push_back(type_id);
    inputs.attention_mask.push_back(1);
    inputs.offsets.push_back(offsets);
    inputs.sequence_ids.push_back(sequence_id);
  };
  const auto add_special = [&](int64_t id, int64_t type_id) {
    add(tokenizer.IdToToken(id), id, type_id, {0, 0}, -1);
  };
  const auto add_sequence = [&](const Encoding& encoding, int64_t keep, int64_t type_id,
                                int sequence_id) {
    for (int64_t i = 0; i < keep; ++i) {
      add(encoding.tokens[i], encoding.ids[i], type_id, encoding.offsets[i], sequence_id);
    }
  };
  // Without special tokens HF gives the pair type id 0 as well (prepare_for_model).
  const int64_t second_type = options.add_special_tokens ? 1 : 0;
  if (options.add_special_tokens) add_special(tokenizer.cls_id(), 0);
  add_sequence(first, first_length - inputs.num_truncated_first, 0, 0);
  if (options.add_special_tokens) add_special(tokenizer.sep_id(), 0);
  if (second != nullptr) {
    add_sequence(*second, second_length - inputs.num_truncated_second, second_type, 1);
    if (options.add_special_tokens) add_special(tokenizer.sep_id(), second_type);
  }
  if (options.pad_to_max_length) {
    const int64_t pad_id = tokenizer.pad_id();
    const std::string pad_token = tokenizer.IdToToken(pad_id);
    while (static_cast<int64_t>(inputs.input_ids.size()) < options.max_length) {
      add(pad_token, pad_id, 0, {0, 0}, -1);
      inputs.attention_mask.back() = 0;
    }
  }
  return inputs;
}

}  // namespace tokenizers
