// Kill safety of every writing command (issue 14), in the manner of SQLite's crash tests: each
// command is started on a small model with earlier outputs in place, killed (SIGKILL, or SIGINT)
// at a random instant of its run, and then
//   - every file that existed is byte-identical or a complete newer version,
//   - no partial file sits under a final name (every visible file reads as what it is),
//   - after SIGINT no temporary is left; after SIGKILL the next run removes them,
//   - where the command offers --resume, it completes the interrupted run.
// BITSCAPE_KILLS (default 2) kills per command and signal; scripts/killtest.sh runs many and
// reports the count survived.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <random>

#include "app/cli_util.h"
#include "bitscape/allocation.h"
#include "bitscape/calibration.h"
#include "bitscape/json_input.h"
#include "bitscape/model.h"
#include "bitscape/project.h"
#include "bitscape/project_check.h"
#include "bitscape/safetensors.h"
#include "bitscape/search_store.h"
#include "bitscape/sensitivity_store.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace bitscape::test;

namespace {

const std::string kValidation = std::string(BITSCAPE_SAMPLE_DIR) + "/validation.txt";
const std::string kTokenizer = std::string(BITSCAPE_SAMPLE_DIR) + "/model/tokenizer.json";

int kills_per_case() {
  const char* v = std::getenv("BITSCAPE_KILLS");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 2;
}

CliRun run(const std::vector<std::string>& args) {
  std::string line;
  for (const auto& a : args) line += " " + a;
  return cli(line);
}

// The shared starting point: a small model trained on the spot (2 blocks, hidden 128) and a
// calibrated project of it with a sensitivity run.
struct Base {
  std::string dir, model, project;
  std::vector<bitscape::ModuleShape> shapes;
};

const Base& base() {
  static const Base b = [] {
    Base b;
    // One base per process: ctest runs the cases in parallel processes.
    b.dir = std::string(BITSCAPE_TEST_TMP) + "/kill_base." + std::to_string(::getpid());
    fs::remove_all(b.dir);
    fs::create_directories(b.dir);
    b.model = b.dir + "/model";
    CliRun r = run({"train-lm", "--quiet", "--data", kValidation, "--tokenizer", kTokenizer, "--out",
                    b.model, "--hidden", "128", "--intermediate", "256", "--layers", "2", "--heads",
                    "2", "--kv-heads", "1", "--seqlen", "32", "--batch", "4", "--steps", "20",
                    "--warmup", "2", "--eval-every", "0"});
    EXPECT_EQ(r.code, 0) << r.err;
    b.project = b.dir + "/base.bsproj.h5";
    r = run({"calibrate", "--quiet", "--model", b.model, "--data", kValidation, "--samples", "8",
             "--seqlen", "32", "--out", b.project});
    EXPECT_EQ(r.code, 0) << r.err;
    r = run({"sensitivity", "--quiet", "--project", b.project, "--bits", "2,4", "--eval-windows",
             "2", "--seqlen", "32", "--gradient-windows", "1", "--trace-samples", "2", "--group",
             "64", "--pool", "8x8"});
    EXPECT_EQ(r.code, 0) << r.err;
    b.shapes = bitscape::module_shapes(bitscape::Model::load(b.model));
    return b;
  }();
  // Removed when the process ends. Registered after `b` is complete, so the handler runs before
  // b's destructor (registering inside the initializer would run it after).
  static const bool cleanup = [] {
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(b.dir, ec);
    });
    return true;
  }();
  (void)cleanup;
  return b;
}

// Temporaries beside their targets (".<name>.tmp-<pid>-<n>") and the undo journal of a project
// updated in place (".<name>.undo"): neither is under a final name.
bool is_temporary(const fs::path& p) {
  const std::string n = p.filename().string();
  const bool journal = n.size() > 6 && n.compare(n.size() - 5, 5, ".undo") == 0;
  return n.size() > 1 && n[0] == '.' && (n.find(".tmp-") != std::string::npos || journal);
}

// The runs and edits of a project with their status ("" when it has none).
std::map<std::string, std::string> runs_of(const std::string& project) {
  std::map<std::string, std::string> runs;
  const bitscape::ProjectReader r = bitscape::ProjectReader::open(project);
  for (const char* group : {"/search", "/sensitivity", "/probing", "/edits"})
    if (r.exists(group))
      for (const std::string& run : r.children(group)) {
        const std::string p = std::string(group) + "/" + run;
        runs[p] = r.string_attribute(p, "status").value_or("");
      }
  return runs;
}

// Every file under `dir` (temporaries excluded: they are not under a final name) with its bytes.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    if (is_temporary(it->path())) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files[it->path().string()] = read_file(it->path().string());
  }
  return files;
}

std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it)
    if (is_temporary(it->path())) {
      out.push_back(it->path().string());
      it.disable_recursion_pending();
    }
  return out;
}

// Whether a file reads completely as what its name says it is; the problem otherwise.
std::string complete(const std::string& path) {
  try {
    if (path.size() > 11 && path.compare(path.size() - 11, 11, ".bsproj.h5") == 0) {
      bitscape::check_project(path);
    } else if (path.size() > 11 && path.compare(path.size() - 11, 11, ".alloc.json") == 0) {
      bitscape::Allocation::load(path, base().shapes);
    } else if (path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
      bitscape::parse_json(read_file(path), path);
    } else if (path.size() > 12 && path.compare(path.size() - 12, 12, ".safetensors") == 0) {
      bitscape::SafetensorsFile::open(path);
    }
    // Output folders: a model that loads, whatever else they hold.
    const fs::path dir = fs::path(path).parent_path();
    if (fs::path(path).filename() == "config.json" && fs::exists(dir / "model.safetensors"))
      bitscape::Model::load(dir.string());
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// One writing command: how its folder is prepared, what runs, and how --resume finishes it.
struct Case {
  std::string name;
  std::function<void(const std::string& work)> prepare;
  std::function<std::vector<std::string>(const std::string& work)> args;
  // After an interrupted run: the command that completes it, and the check that it did.
  std::function<std::vector<std::string>(const std::string& work)> resume;
  std::function<void(const std::string& work)> resumed;
};

std::vector<Case> cases() {
  const Base& b = base();
  auto project_copy = [b](const std::string& work) {
    fs::copy_file(b.project, work + "/p.bsproj.h5");
  };
  std::vector<Case> c;
  c.push_back({"calibrate", project_copy,
               [b](const std::string& w) {
                 return std::vector<std::string>{"calibrate", "--quiet", "--model", b.model, "--data",
                                                 kValidation, "--samples", "16", "--seqlen", "32",
                                                 "--out", w + "/p.bsproj.h5"};
               },
               nullptr, nullptr});
  c.push_back(
      {"sensitivity", project_copy,
       [](const std::string& w) {
         return std::vector<std::string>{"sensitivity", "--quiet", "--project", w + "/p.bsproj.h5",
                                         "--run", "k", "--bits", "2,3,4", "--eval-windows", "4",
                                         "--seqlen", "32", "--gradient-windows", "2",
                                         "--trace-samples", "4", "--group", "64", "--pool", "8x8"};
       },
       [](const std::string& w) {
         const std::string p = w + "/p.bsproj.h5";
         const bitscape::ProjectReader r = bitscape::ProjectReader::open(p);
         const auto runs = bitscape::sensitivity_runs(r);
         // Killed before the run was stored, or after it was complete: nothing to resume.
         if (std::find(runs.begin(), runs.end(), "k") == runs.end() ||
             bitscape::read_sensitivity_run(r, "k", {}).status == "complete")
           return std::vector<std::string>{};
         return std::vector<std::string>{"sensitivity", "--quiet", "--resume", "--project", p, "--run",
                                         "k", "--bits", "2,3,4", "--eval-windows", "4", "--seqlen",
                                         "32", "--gradient-windows", "2", "--trace-samples", "4",
                                         "--group", "64", "--pool", "8x8"};
       },
       [](const std::string& w) {
         const bitscape::ProjectReader r = bitscape::ProjectReader::open(w + "/p.bsproj.h5");
         const auto info = bitscape::read_sensitivity_run(r, "k", r.calibrated_modules());
         EXPECT_EQ(info.status, "complete");
         EXPECT_EQ(info.modules.size(), r.calibrated_modules().size());
       }});
  c.push_back(
      {"search", 
       [b](const std::string& w) {
         fs::copy_file(b.project, w + "/p.bsproj.h5");
         write_file(w + "/chosen.alloc.json",
                    R"({"format": "bitscape-allocation", "version": 1, "default": {"bits": 4, "group_size": 64}})");
       },
       [](const std::string& w) {
         return std::vector<std::string>{"search", "--quiet", "--project", w + "/p.bsproj.h5",
                                         "--run", "k", "--method", "amq", "--bits", "2,3,4",
                                         "--group", "64", "--eval-windows", "2", "--seqlen", "32",
                                         "--iterations", "3", "--candidates", "4",
                                         "--initial-samples", "20", "--budget", "3.5", "--out",
                                         w + "/chosen.alloc.json"};
       },
       [](const std::string& w) {
         const std::string p = w + "/p.bsproj.h5";
         const bitscape::ProjectReader r = bitscape::ProjectReader::open(p);
         const auto runs = bitscape::search_runs(r);
         if (std::find(runs.begin(), runs.end(), "k") == runs.end() ||
             bitscape::read_search_run(r, "k").status == "complete")
           return std::vector<std::string>{};
         return std::vector<std::string>{"search", "--quiet", "--resume", "--project", p, "--run",
                                         "k", "--method", "amq", "--bits", "2,3,4", "--group", "64",
                                         "--eval-windows", "2", "--seqlen", "32", "--iterations",
                                         "3", "--candidates", "4", "--initial-samples", "20"};
       },
       [](const std::string& w) {
         const auto r = bitscape::read_search_run(bitscape::ProjectReader::open(w + "/p.bsproj.h5"), "k");
         EXPECT_EQ(r.status, "complete");
         EXPECT_EQ(r.completed_iterations, 4);  // the initial samples (0) and iterations 1-3
       }});
  c.push_back({"quantize",
               [b](const std::string& w) {
                 CliRun r = run({"quantize", "--quiet", "--model", b.model, "--bits", "8", "--group",
                                 "16", "--method", "rtn", "--out", w + "/q"});
                 EXPECT_EQ(r.code, 0) << r.err;
               },
               [b](const std::string& w) {
                 return std::vector<std::string>{"quantize", "--quiet", "--model", b.model, "--bits",
                                                 "3", "--group", "16", "--method", "gptq",
                                                 "--calib-data", kValidation, "--samples", "8",
                                                 "--calib-seqlen", "32", "--out", w + "/q", "--force"};
               },
               nullptr, nullptr});
  // A project append: an allocation measured and stored as an edit, with earlier edits in place.
  auto measure_args = [](const std::string& w, const std::string& bits) {
    return std::vector<std::string>{"measure", "--quiet", "--project", w + "/p.bsproj.h5", "--bits",
                                    bits, "--group", "64", "--method", "gptq", "--eval-windows",
                                    "4", "--seqlen", "32"};
  };
  c.push_back({"measure",
               [b, measure_args](const std::string& w) {
                 fs::copy_file(b.project, w + "/p.bsproj.h5");
                 CliRun r = run(measure_args(w, "4"));
                 EXPECT_EQ(r.code, 0) << r.err;
               },
               [measure_args](const std::string& w) { return measure_args(w, "3"); }, nullptr,
               nullptr});
  c.push_back({"train-lm",
               [b](const std::string& w) { fs::copy(b.model, w + "/m", fs::copy_options::recursive); },
               [](const std::string& w) {
                 return std::vector<std::string>{
                     "train-lm", "--quiet", "--data", kValidation, "--tokenizer", kTokenizer, "--out",
                     w + "/m", "--force", "--hidden", "128", "--intermediate", "256", "--layers", "2",
                     "--heads", "2", "--kv-heads", "1", "--seqlen", "32", "--batch", "4", "--steps",
                     "60", "--warmup", "2", "--eval-every", "0"};
               },
               nullptr, nullptr});
  c.push_back({"probing",
               [b](const std::string& w) {
                 fs::copy_file(b.project, w + "/p.bsproj.h5");
                 CliRun r = run({"sensitivity", "--quiet", "--project", w + "/p.bsproj.h5", "--data",
                                 kValidation, "--data", kTest, "--probe-samples", "2",
                                 "--seqlen", "32", "--tammp-out", w + "/t"});
                 EXPECT_EQ(r.code, 0) << r.err;
               },
               [](const std::string& w) {
                 return std::vector<std::string>{"sensitivity", "--quiet", "--project",
                                                 w + "/p.bsproj.h5", "--data", kValidation, "--data",
                                                 kTest, "--probe-samples", "4", "--seqlen", "32",
                                                 "--tammp-out", w + "/t"};
               },
               nullptr, nullptr});
  return c;
}

struct Tally {
  int kills = 0, survived = 0;
};

// Kills one command at random instants; returns how many kills left everything as it must be.
Tally kill_repeatedly(const Case& c, int sig, int kills, std::mt19937& rng) {
  Tally t;
  const std::string root = scratch_dir() + "/" + c.name;
  // The uninterrupted run's length sets the range of the random instants.
  fs::create_directories(root + "/timing");
  c.prepare(root + "/timing");
  const auto t0 = std::chrono::steady_clock::now();
  CliRun whole = run(c.args(root + "/timing"));
  EXPECT_EQ(whole.code, 0) << c.name << ": " << whole.err;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::uniform_real_distribution<double> instant(0.0, seconds);
  for (int k = 0; k < kills; ++k) {
    const std::string work = root + "/" + std::to_string(sig) + "-" + std::to_string(k);
    fs::create_directories(work);
    c.prepare(work);
    const std::map<std::string, std::string> before = snapshot(work);
    const pid_t pid = spawn_cli(c.args(work), work + ".err");
    std::this_thread::sleep_for(std::chrono::duration<double>(instant(rng)));
    ::kill(pid, sig);
    const int code = wait_exit_code(pid);
    ++t.kills;
    const int failures_before = ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
    SCOPED_TRACE(c.name + " killed with signal " + std::to_string(sig) + " (exit " +
                 std::to_string(code) + "): " + work);
    // Old files: the same bytes, or a complete newer version.
    const std::map<std::string, std::string> after = snapshot(work);
    for (const auto& [path, bytes] : before) {
      const auto it = after.find(path);
      if (it == after.end()) {
        // Gone only where a whole output folder was swapped and is absent for no instant.
        ADD_FAILURE() << path << " disappeared";
      } else if (it->second != bytes) {
        const std::string problem = complete(path);
        EXPECT_EQ(problem, "") << path << " changed into an incomplete file";
      }
      // A project updated in place (and rolled back when its writer was killed) keeps every
      // run and edit it had, and every complete one stays complete.
      if (path.size() > 11 && path.compare(path.size() - 11, 11, ".bsproj.h5") == 0 &&
          complete(path).empty()) {
        const std::string copy = root + "/before.bsproj.h5";
        write_file(copy, bytes);
        const std::map<std::string, std::string> was = runs_of(copy), is = runs_of(path);
        fs::remove(copy);
        for (const auto& [run, status] : was) {
          const auto now = is.find(run);
          if (now == is.end()) {
            ADD_FAILURE() << path << ": " << run << " was lost";
          } else if (status == "complete") {
            EXPECT_EQ(now->second, "complete") << path << ": " << run;
          }
        }
      }
    }
    // New files under final names: complete.
    for (const auto& [path, bytes] : after) {
      if (!before.count(path)) {
        EXPECT_EQ(complete(path), "") << path << " is incomplete";
      }
    }
    if (sig != SIGKILL) {
      EXPECT_EQ(temporaries(work), std::vector<std::string>{}) << "left behind";
    }
    // --resume completes what was interrupted; the next run of the command removes the
    // temporaries a SIGKILL left.
    if (c.resume) {
      const std::vector<std::string> again = c.resume(work);
      if (!again.empty()) {
        CliRun r = run(again);
        EXPECT_EQ(r.code, 0) << r.err;
        if (r.code == 0) c.resumed(work);
      }
    }
    CliRun completed = run(c.args(work));
    // A command that adds a named run refuses to add it again once it exists: that is fine.
    EXPECT_TRUE(completed.code == 0 || completed.err.find("already") != std::string::npos)
        << completed.err;
    EXPECT_EQ(temporaries(work), std::vector<std::string>{}) << "temporaries outlived the next run";
    const int failures_after = ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
    if (failures_after == failures_before) {
      ++t.survived;
      fs::remove_all(work);
    }
  }
  fs::remove_all(root + "/timing");
  return t;
}

}  // namespace

class KillTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KillTest, EveryFileIsOldOrCompleteAfterKillsAtRandomInstants) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  base();
  std::mt19937 rng(std::hash<std::string>()(GetParam()) ^ 14u);
  for (const Case& c : cases()) {
    if (c.name != GetParam()) continue;
    Tally total;
    for (int sig : {SIGKILL, SIGINT}) {
      const Tally t = kill_repeatedly(c, sig, kills_per_case(), rng);
      total.kills += t.kills;
      total.survived += t.survived;
    }
    std::printf("kills survived: %s %d of %d\n", c.name.c_str(), total.survived, total.kills);
    RecordProperty("kills", total.kills);
    RecordProperty("survived", total.survived);
    EXPECT_EQ(total.survived, total.kills);
  }
}

INSTANTIATE_TEST_SUITE_P(Writers, KillTest,
                         ::testing::Values("calibrate", "sensitivity", "search", "quantize",
                                           "measure", "train-lm", "probing"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });
