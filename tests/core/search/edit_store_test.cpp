// Edited allocations stored in the project (search_store.h: write_edit / read_edit): round trip
// of the allocation text and the measured point, names in order past nine, errors naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "bitscape/error.h"
#include "bitscape/project.h"
#include "bitscape/search_store.h"
#include "test_util.h"

using namespace bitscape;
using bitscape::test::expect_error;
using bitscape::test::scratch_dir;

TEST(EditStoreTest, EditsRoundTripInOrder) {
  if (!project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string path = scratch_dir() + "/p.bsproj.h5";
  {
    auto w = ProjectWriter::create(path);
    w.commit();
  }
  EXPECT_TRUE(edit_records(ProjectReader::open(path)).empty());
  EXPECT_EQ(next_edit_name(ProjectReader::open(path)), "edit0001");
  for (int i = 1; i <= 11; ++i) {
    EditRecord e;
    e.name = next_edit_name(ProjectReader::open(path));
    e.created = "2026-11-26T00:00:0" + std::to_string(i % 10) + "Z";
    e.label = "edit number " + std::to_string(i);
    e.allocation_json = "{\"modules\": {\"layers.0.mlp.down_proj\": {\"bits\": " + std::to_string(2 + i % 6) + "}}}";
    e.point.method = "edited";
    e.point.index = i;
    e.point.average_bits = 2.0 + 0.125 * i;
    e.point.kl = 0.01 * i;
    e.point.ppl = 37.0 + i;
    auto w = ProjectWriter::update(path);
    write_edit(w, e);
    w.commit();
  }
  const ProjectReader r = ProjectReader::open(path);
  const std::vector<std::string> names = edit_records(r);
  ASSERT_EQ(names.size(), 11u);
  EXPECT_EQ(names.front(), "edit0001");
  EXPECT_EQ(names[9], "edit0010");  // zero-padded: the tenth sorts after the ninth
  EXPECT_EQ(next_edit_name(r), "edit0012");
  const EditRecord e = read_edit(r, "edit0010");
  EXPECT_EQ(e.label, "edit number 10");
  EXPECT_EQ(e.created, "2026-11-26T00:00:00Z");
  EXPECT_EQ(e.allocation_json, "{\"modules\": {\"layers.0.mlp.down_proj\": {\"bits\": 6}}}");
  EXPECT_EQ(e.point.method, "edited");
  EXPECT_EQ(e.point.index, 10);
  EXPECT_DOUBLE_EQ(e.point.average_bits, 3.25);
  EXPECT_DOUBLE_EQ(e.point.kl, 0.1);
  EXPECT_DOUBLE_EQ(e.point.ppl, 47.0);
  EXPECT_TRUE(std::isnan(e.point.jsd));
  expect_error<InputError>([&] { read_edit(r, "edit0099"); }, {path, "edit0099"});
}
