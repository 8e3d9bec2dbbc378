// Perplexity evaluations kept in the project (evaluation_store.h): round trip of every field
// (unquantized and allocation records, NaN bits), renames and pins written back over a record,
// names in order, a damaged record refused naming the file and record, and the CSV export
// (quoting, empty fields for missing numbers) against a hand-written expectation.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "bitscape/error.h"
#include "bitscape/evaluation_store.h"
#include "bitscape/project.h"
#include "test_util.h"

using namespace bitscape;
using bitscape::test::expect_error;
using bitscape::test::scratch_dir;

namespace {

EvaluationRecord unquantized() {
  EvaluationRecord e;
  e.created = "2026-12-08T01:00:00Z";
  e.label = "unquantized model";
  e.subject = "unquantized";
  e.data = "/data/test.txt";
  e.windows = 503;
  e.seqlen = 256;
  e.device = "cpu";
  e.dtype = "fp32";
  e.ppl = 36.9;
  e.nll = std::log(36.9);
  e.seconds = 12.5;
  return e;
}

}  // namespace

TEST(EvaluationStoreTest, RecordsRoundTripAndChangesAreWrittenBack) {
  if (!project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string path = scratch_dir() + "/p.bsproj.h5";
  {
    auto w = ProjectWriter::create(path);
    w.commit();
  }
  EXPECT_TRUE(evaluation_records(ProjectReader::open(path)).empty());
  EXPECT_EQ(next_evaluation_name(ProjectReader::open(path)), "eval0001");
  EvaluationRecord a = unquantized();
  a.name = "eval0001";
  EvaluationRecord b = unquantized();
  b.name = "eval0002";
  b.label = "dp 3.0 (3.012 bits)";
  b.subject = "allocation";
  b.allocation_name = "dp-3.0";
  b.allocation_json = "{\"modules\": {}}";
  b.average_bits = 3.012;
  b.ppl = 41.25;
  b.device = "cuda:0";
  b.dtype = "bf16";
  for (const EvaluationRecord& e : {a, b}) {
    auto w = ProjectWriter::update(path);
    write_evaluation(w, e);
    w.commit();
  }
  {
    const ProjectReader r = ProjectReader::open(path);
    EXPECT_EQ(evaluation_records(r), (std::vector<std::string>{"eval0001", "eval0002"}));
    EXPECT_EQ(next_evaluation_name(r), "eval0003");
    const EvaluationRecord x = read_evaluation(r, "eval0001");
    EXPECT_EQ(x.subject, "unquantized");
    EXPECT_EQ(x.label, "unquantized model");
    EXPECT_EQ(x.created, "2026-12-08T01:00:00Z");
    EXPECT_TRUE(std::isnan(x.average_bits));
    EXPECT_TRUE(x.allocation_json.empty());
    EXPECT_EQ(x.data, "/data/test.txt");
    EXPECT_EQ(x.windows, 503);
    EXPECT_EQ(x.seqlen, 256);
    EXPECT_DOUBLE_EQ(x.ppl, 36.9);
    EXPECT_DOUBLE_EQ(x.nll, std::log(36.9));
    EXPECT_DOUBLE_EQ(x.seconds, 12.5);
    EXPECT_FALSE(x.pinned || x.hidden);
    const EvaluationRecord y = read_evaluation(r, "eval0002");
    EXPECT_EQ(y.subject, "allocation");
    EXPECT_EQ(y.allocation_name, "dp-3.0");
    EXPECT_EQ(y.allocation_json, "{\"modules\": {}}");
    EXPECT_DOUBLE_EQ(y.average_bits, 3.012);
    EXPECT_EQ(y.device, "cuda:0");
    EXPECT_EQ(y.dtype, "bf16");
  }
  // A rename and a pin replace the record, nothing else.
  b.label = "my favourite";
  b.pinned = true;
  {
    auto w = ProjectWriter::update(path);
    write_evaluation(w, b);
    w.commit();
  }
  const ProjectReader r = ProjectReader::open(path);
  EXPECT_EQ(evaluation_records(r).size(), 2u);
  const EvaluationRecord y = read_evaluation(r, "eval0002");
  EXPECT_EQ(y.label, "my favourite");
  EXPECT_TRUE(y.pinned);
  EXPECT_FALSE(y.hidden);
  EXPECT_DOUBLE_EQ(y.ppl, 41.25);
  expect_error<InputError>([&] { read_evaluation(r, "eval0099"); }, {path, "eval0099"});
}

TEST(EvaluationStoreTest, ADamagedRecordIsRefusedNamingIt) {
  if (!project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string path = scratch_dir() + "/d.bsproj.h5";
  {
    auto w = ProjectWriter::create(path);
    w.set_attribute("/evaluations/eval0001", "record", std::string("{\"subject\": \"unquantized\", \"ppl\": "));
    w.set_attribute("/evaluations/eval0002", "record", std::string("{\"subject\": \"quantum\"}"));
    w.set_attribute("/evaluations/eval0003", "record", std::string("[1, 2]"));
    w.set_attribute("/evaluations/eval0004", "record", std::string("{\"subject\": \"allocation\"}"));
    w.set_attribute("/evaluations/eval0005", "label", std::string("no record"));
    w.commit();
  }
  const ProjectReader r = ProjectReader::open(path);
  expect_error<InputError>([&] { read_evaluation(r, "eval0001"); }, {path, "eval0001", "malformed JSON"});
  expect_error<InputError>([&] { read_evaluation(r, "eval0002"); }, {path, "eval0002", "quantum"});
  expect_error<InputError>([&] { read_evaluation(r, "eval0003"); }, {path, "eval0003", "not an object"});
  expect_error<InputError>([&] { read_evaluation(r, "eval0004"); }, {path, "eval0004", "no allocation"});
  expect_error<InputError>([&] { read_evaluation(r, "eval0005"); }, {path, "eval0005", "no record"});
}

TEST(EvaluationStoreTest, TheCsvQuotesWhatNeedsItAndLeavesMissingNumbersEmpty) {
  EvaluationRecord a = unquantized();
  a.name = "eval0001";
  EvaluationRecord b = unquantized();
  b.name = "eval0002";
  b.label = "3 bits, \"mine\"";
  b.subject = "allocation";
  b.average_bits = 3.0;
  b.ppl = std::nan("");
  b.pinned = true;
  const std::string csv = evaluations_csv({a, b});
  const std::string expected =
      "name,label,subject,average_bits,data,windows,seqlen,device,dtype,perplexity,nll,seconds,created,pinned,hidden\n"
      "eval0001,unquantized model,unquantized,,/data/test.txt,503,256,cpu,fp32,36.900000,3.608212,12.50,"
      "2026-12-08T01:00:00Z,0,0\n"
      "eval0002,\"3 bits, \"\"mine\"\"\",allocation,3.0000,/data/test.txt,503,256,cpu,fp32,,3.608212,12.50,"
      "2026-12-08T01:00:00Z,1,0\n";
  EXPECT_EQ(csv, expected);
}
