// The one rule for picking a run (run_choice.h): shown, complete and unfinished choices, a named
// run, and the statuses read from a project.
#include "bitscape/run_choice.h"

#include <gtest/gtest.h>

#include "bitscape/error.h"
#include "bitscape/project.h"
#include "bitscape/search_store.h"
#include "test_util.h"

using namespace bitscape;

TEST(RunChoiceTest, ShownIsTheLastCompleteElseTheLastCompleteOnlyUnfinishedForResume) {
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"a", "complete"}, {"b", "complete"}, {"c", "cancelled"}, {"d", "running"}};
  EXPECT_EQ(choose_run(runs, RunChoice::kShown, "", "p", "search"), "b");
  EXPECT_EQ(choose_run(runs, RunChoice::kComplete, "", "p", "search"), "b");
  EXPECT_EQ(choose_run(runs, RunChoice::kUnfinished, "", "p", "search"), "d");
  const std::vector<std::pair<std::string, std::string>> unfinished = {{"a", "cancelled"}, {"b", "running"}};
  EXPECT_EQ(choose_run(unfinished, RunChoice::kShown, "", "p", "search"), "b");
  EXPECT_EQ(choose_run(unfinished, RunChoice::kComplete, "", "p", "search"), "");
  EXPECT_EQ(choose_run({{"a", "complete"}}, RunChoice::kUnfinished, "", "p", "search"), "");
  EXPECT_EQ(choose_run({}, RunChoice::kShown, "", "p", "search"), "");
  // A named run is that run whatever its status, and an error naming the project when absent.
  EXPECT_EQ(choose_run(runs, RunChoice::kComplete, "c", "p", "search"), "c");
  test::expect_error<InputError>([&] { choose_run(runs, RunChoice::kShown, "zz", "proj.h5", "sensitivity"); },
                                 {"proj.h5", "has no sensitivity run 'zz'"});
}

TEST(RunChoiceTest, StatusesComeFromTheProject) {
  if (!project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string path = test::scratch_dir() + "/p.bsproj.h5";
  {
    auto w = ProjectWriter::create(path);
    for (const auto& [name, status] : std::vector<std::pair<std::string, std::string>>{
             {"search1", "complete"}, {"search2", "cancelled"}, {"search3", "complete"}}) {
      SearchRunRecord r;
      r.name = name;
      r.method = "dp";
      r.status = status;
      write_search_run(w, r);
    }
    w.commit();
  }
  const ProjectReader r = ProjectReader::open(path);
  EXPECT_EQ(runs_with_status(r, "search"),
            (std::vector<std::pair<std::string, std::string>>{
                {"search1", "complete"}, {"search2", "cancelled"}, {"search3", "complete"}}));
  EXPECT_EQ(choose_run(r, "search", RunChoice::kShown), "search3");
  EXPECT_EQ(choose_run(r, "search", RunChoice::kUnfinished), "search2");
  EXPECT_EQ(choose_run(r, "sensitivity", RunChoice::kShown), "");
  EXPECT_EQ(choose_run(r, "probing", RunChoice::kShown), "");
}
