// Time to add one search checkpoint (a run with its points so far) to a project that holds
// about 1 GB of Hessians: what every AMQ iteration, AutoMixQ cycle and stored edit pays. Builds
// the project once (synthetic Hessians of 4096-wide inputs with pseudo-random values, so that
// nothing compresses them), then appends checkpoints with ProjectWriter::update, each timed
// from opening the writer to the end of its commit, side by side: first with every update a copy
// of the whole file (the writer before issue 15's part 5, set_in_place_updates(false)), then
// in place, each on a fresh copy of the same project; writes the medians with the file sizes.
//   bitscape_bench_project_append --dir SCRATCH [--gib 1.0] [--repeats 5] [--out results.json]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bitscape/project.h"
#include "bitscape/search_store.h"

using namespace bitscape;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  std::string dir, out;
  double gib = 1.0;
  int repeats = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--gib")) gib = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--out")) out = argv[i + 1];
  }
  if (dir.empty() || repeats < 1 || !(gib > 0)) {
    std::fprintf(stderr, "usage: %s --dir SCRATCH [--gib G] [--repeats N] [--out FILE.json]\n", argv[0]);
    return 1;
  }
  fs::create_directories(dir);
  const std::string path = dir + "/append.bsproj.h5";
  const int64_t n = 4096;
  const int64_t per = n * (n + 1) / 2;
  const int hessians = std::max(1, int(gib * double(int64_t(1) << 30) / (4.0 * double(per)) + 0.5));

  const auto t_build = std::chrono::steady_clock::now();
  {
    ProjectWriter w = ProjectWriter::create(path);
    ProjectModelInfo info;
    info.path = "synthetic";
    info.fingerprint = "bench";
    info.config_json = "{}";
    for (int k = 0; k < hessians; ++k) info.modules.push_back({"model.layers." + std::to_string(k) + ".mlp.down_proj", n, n});
    w.write_model(info);
    CalibrationSettings s;
    s.corpus = "synthetic";
    s.samples = 128;
    s.seqlen = 2048;
    w.begin_calibration(s);
    uint32_t state = 12345;
    for (int k = 0; k < hessians; ++k) {
      HessianData h;
      h.key = info.modules[size_t(k)].name;
      h.modules = {h.key};
      h.n = n;
      h.tokens = 128 * 2048;
      h.diag.resize(size_t(n));
      h.upper.resize(size_t(per));
      for (float& v : h.upper) {
        state = state * 1664525u + 1013904223u;
        v = float(state >> 8) * (1.0f / 16777216.0f);
      }
      for (int64_t i = 0; i < n; ++i) h.diag[size_t(i)] = 1.0f + float(i);
      w.write_hessian(h);
    }
    w.commit();
  }
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_build).count();
  const uint64_t project_bytes = fs::file_size(path);

  const std::string work = dir + "/append-work.bsproj.h5";
  // One mode's checkpoints on a fresh copy of the project: their seconds and the final size.
  auto append = [&](bool in_place, uint64_t* final_bytes) {
    fs::copy_file(path, work, fs::copy_options::overwrite_existing);
    set_in_place_updates(in_place);
    std::vector<double> seconds;
    SearchRunRecord r;
    r.name = "search1";
    r.method = "amq";
    r.status = "running";
    r.settings_json = "{}";
    for (int k = 0; k < repeats; ++k) {
      // One more iteration's points each time, as a search's checkpoints grow.
      for (int p = 0; p < 16; ++p) {
        SearchPoint pt;
        pt.method = "amq";
        pt.index = int64_t(r.points.size());
        pt.iteration = k;
        pt.genes.assign(224, p % 3);
        pt.average_bits = 3.0 + 0.01 * p;
        pt.kl = 0.1 / (1 + p);
        r.points.push_back(pt);
      }
      r.completed_iterations = k + 1;
      const auto t0 = std::chrono::steady_clock::now();
      ProjectWriter w = ProjectWriter::update(work);
      write_search_run(w, r);
      w.commit();
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      std::printf("%s checkpoint %d: %.4f s, %llu bytes\n", in_place ? "in place" : "copy", k + 1,
                  seconds.back(), static_cast<unsigned long long>(fs::file_size(work)));
    }
    set_in_place_updates(true);
    *final_bytes = fs::file_size(work);
    fs::remove(work);
    return seconds;
  };
  auto median_of = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  uint64_t copy_bytes = 0, in_place_bytes = 0;
  const std::vector<double> copy_seconds = append(false, &copy_bytes);
  const std::vector<double> in_place_seconds = append(true, &in_place_bytes);
  const double copy_median = median_of(copy_seconds), in_place_median = median_of(in_place_seconds);
  std::printf("project %.2f GB (%d Hessians of %lld inputs, built in %.1f s); append a checkpoint: "
              "median %.4f s as a copy, %.4f s in place (%.0fx) over %d each\n",
              double(project_bytes) / 1e9, hessians, static_cast<long long>(n), build_s, copy_median,
              in_place_median, copy_median / in_place_median, repeats);
  if (!out.empty()) {
    nlohmann::json j = {{"project_bytes", project_bytes},
                        {"hessians", hessians},
                        {"inputs", n},
                        {"build_seconds", build_s},
                        {"copy", {{"append_seconds", copy_seconds},
                                  {"append_median_seconds", copy_median},
                                  {"final_bytes", copy_bytes}}},
                        {"in_place", {{"append_seconds", in_place_seconds},
                                      {"append_median_seconds", in_place_median},
                                      {"final_bytes", in_place_bytes}}}};
    std::ofstream(out) << j.dump(2) << "\n";
  }
  fs::remove(path);
  return 0;
}
