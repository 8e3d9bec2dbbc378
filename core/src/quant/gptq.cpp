// GPTQ (Frantar, Ashkboos, Hoefler & Alistarh, ICLR 2023), Algorithm 1, as the authors' code
// runs it (IST-DASLab/gptq, gptq.py GPTQ.fasterquant):
//   dead inputs (diag(H) = 0) get H_jj = 1 and W_:j = 0; optional act-order (columns by
//   decreasing diag(H)); dampening lambda = damp * mean(diag(H)) on the diagonal;
//   U = upper Cholesky factor of H^-1 (eq. 4's row-removal updates read off its rows);
//   columns in blocks of B = 128: for each column i, q = quant(w_i), err = (w_i - q) / U_ii,
//   w_{i+1..end of block} -= err U_{i, i+1..}; then the lazy batch update of all later
//   columns W_{:, block end..} -= Err U_{block, block end..} (section 4, "Lazy Batch-Updates");
//   group parameters are found when a group starts (from the columns as they were before this
//   block's in-block updates, as the reference does), or all up front with static groups.
// Differences from the reference, none of which changes its result beyond rounding:
//   - U is computed as J L^-1 J where L L^T = J H J (J reverses the order): one Cholesky and one
//     triangular inverse instead of Cholesky, inverse and Cholesky again (the upper Cholesky
//     factor of H^-1 is unique, so this is the same matrix);
//   - the column sweep runs in C++ on rows in parallel (rows are independent inside a block);
//   - scales are rounded to fp16 when found (see uniform.cpp).
// Extensions for Bitscape's layouts: input-channel classes are swept set by set in ascending
// bits, and the fp16 activation-outlier columns last, so that they absorb the error of all the
// others (as OWQ places its fp16 columns); rows may have their own bits (output-channel
// classes); quantization outliers are kept (in fp16) and pass no error on.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "bitscape/error.h"
#include "quant/internal.h"
#include "quant/linalg.h"

namespace bitscape::detail {

namespace {

constexpr int64_t kBlockSize = 128;

struct Grid {
  std::vector<float> scale, zero, maxq;  // per row
};

Grid make_grid(const at::Tensor& x_rows_by_cols, const at::Tensor& maxq, bool symmetric,
               bool clip_search, const at::Tensor& exclude) {
  auto [s, z] = uniform_params(x_rows_by_cols, maxq, symmetric, clip_search, exclude);
  Grid g;
  const at::Tensor sc = s.contiguous().cpu(), zc = z.contiguous().cpu(), mc = maxq.contiguous().cpu();
  g.scale.assign(sc.data_ptr<float>(), sc.data_ptr<float>() + sc.numel());
  g.zero.assign(zc.data_ptr<float>(), zc.data_ptr<float>() + zc.numel());
  g.maxq.assign(mc.data_ptr<float>(), mc.data_ptr<float>() + mc.numel());
  return g;
}

}  // namespace

StoredResult quantize_gptq(const at::Tensor& W_in, const at::Tensor& H_in, const Layout& L,
                           const ModuleAllocation& m, const at::Tensor& exclude_stored,
                           at::Tensor* fp16_column_values, std::vector<int64_t>* column_order,
                           const std::string& name) {
  const int64_t O = L.O, I = L.I, Is = L.stored_columns();
  const at::Tensor W_before_dead = W_in.to(at::kFloat).cpu().contiguous();
  at::Tensor W = W_before_dead;  // per-channel grids are found on W before dead columns go
  const at::Tensor H = H_in.to(at::kFloat).cpu().contiguous();
  if (H.dim() != 2 || H.size(0) != I || H.size(1) != I)
    throw InputError("", "module " + name + ": Hessian has the wrong shape");

  // Dead inputs (diag(H) = 0): H_jj = 1 (in the copy made below) and W_:j = 0.
  const at::Tensor dead = H.diagonal() == 0;
  const bool any_dead = dead.any().item<bool>();
  if (any_dead) W = W.masked_fill(dead.unsqueeze(0), 0.0);

  // Processing order: segment by segment (act-order inside each when asked), fp16 columns last.
  const at::Tensor diagH = H.diagonal().masked_fill(dead, 1.0).contiguous();
  const float* dh = diagH.data_ptr<float>();
  std::vector<int64_t> order;              // processing position -> original column
  std::vector<int64_t> storage_pos(static_cast<size_t>(I), -1);  // original column -> storage pos
  std::vector<int64_t> seg_of_pos;         // processing position -> segment index (-1: fp16 col)
  for (size_t si = 0; si < L.segments.size(); ++si) {
    const Segment& s = L.segments[si];
    std::vector<int64_t> cols(L.storage_columns.begin() + s.begin, L.storage_columns.begin() + s.end);
    for (int64_t k = s.begin; k < s.end; ++k)
      storage_pos[static_cast<size_t>(L.storage_columns[static_cast<size_t>(k)])] = k;
    if (m.act_order)
      std::stable_sort(cols.begin(), cols.end(), [&](int64_t a, int64_t b) { return dh[a] > dh[b]; });
    for (int64_t c : cols) {
      order.push_back(c);
      seg_of_pos.push_back(static_cast<int64_t>(si));
    }
  }
  for (int64_t c : L.fp16_columns) {
    order.push_back(c);
    seg_of_pos.push_back(-1);
  }
  const bool store_order = m.act_order && !m.static_groups && m.group_size != kPerChannel;
  if (column_order) {
    column_order->clear();
    if (store_order) column_order->assign(order.begin(), order.begin() + Is);
  }
  // Processing position -> column of the stored result.
  std::vector<int64_t> out_pos(static_cast<size_t>(I), -1);
  for (int64_t p = 0; p < Is; ++p)
    out_pos[static_cast<size_t>(p)] =
        store_order ? p : storage_pos[static_cast<size_t>(order[static_cast<size_t>(p)])];
  const at::Tensor perm = at::tensor(order, at::kLong);

  // H in processing order (one copy), dead inputs fixed, dampened, and its inverse's upper
  // Cholesky factor computed in that copy.
  bool identity = true;
  for (int64_t p = 0; p < I && identity; ++p) identity = order[static_cast<size_t>(p)] == p;
  at::Tensor Hp = identity ? H.clone() : H.index_select(0, perm).index_select(1, perm).contiguous();
  if (any_dead) Hp.diagonal().masked_fill_(identity ? dead : dead.index_select(0, perm), 1.0);
  const double damp = m.damp * Hp.diagonal().mean().item<double>();
  Hp.diagonal().add_(damp);
  const at::Tensor U = upper_cholesky_of_inverse(std::move(Hp), name);
  const float* u = U.data_ptr<float>();

  // Wp: [I, O], row p = column order[p] (so that a column is contiguous over the rows).
  at::Tensor Wp = W.index_select(1, perm).t().contiguous();
  float* wp = Wp.data_ptr<float>();
  at::Tensor Qp = at::empty({I, O}, W.options());
  float* qp = Qp.data_ptr<float>();
  at::Tensor codes_p = at::zeros({I, O}, W.options().dtype(at::kByte));
  uint8_t* cp = codes_p.data_ptr<uint8_t>();
  // Excluded entries (quantization outliers), in processing order [I, O].
  at::Tensor excl;
  if (exclude_stored.defined()) {
    at::Tensor e = at::zeros({O, I}, exclude_stored.options());
    for (int64_t k = 0; k < Is; ++k)
      e.select(1, L.storage_columns[static_cast<size_t>(k)]).copy_(exclude_stored.select(1, k));
    excl = e.index_select(1, perm).t().contiguous().to(at::kBool);
  }
  const bool* ex = excl.defined() ? excl.data_ptr<bool>() : nullptr;

  // Groups: which group each processing position uses, and the grids.
  const std::vector<int64_t> goff = segment_group_offsets(L);
  const int64_t G = goff.back();
  std::vector<Grid> grids(static_cast<size_t>(G));
  std::vector<int64_t> group_of_pos(static_cast<size_t>(I), -1);
  std::vector<int64_t> group_start_pos(static_cast<size_t>(G), -1);  // non-static: where found
  std::vector<int64_t> group_end_pos(static_cast<size_t>(G), -1);
  std::vector<at::Tensor> seg_maxq(L.segments.size());
  for (size_t si = 0; si < L.segments.size(); ++si) seg_maxq[si] = segment_maxq(L, L.segments[si]);
  const bool up_front = m.static_groups || m.group_size == kPerChannel;
  {
    std::vector<int64_t> seen(L.segments.size(), 0);
    for (int64_t p = 0; p < Is; ++p) {
      const size_t si = static_cast<size_t>(seg_of_pos[static_cast<size_t>(p)]);
      const Segment& s = L.segments[si];
      if (L.groups_in(s) == 0) continue;  // 16-bit class
      const int64_t width = m.group_size == kPerChannel ? s.size() : m.group_size;
      int64_t g;
      if (up_front) {
        const int64_t k = storage_pos[static_cast<size_t>(order[static_cast<size_t>(p)])];
        g = goff[si] + (k - s.begin) / width;
      } else {
        g = goff[si] + seen[si] / width;
        if (seen[si] % width == 0) group_start_pos[static_cast<size_t>(g)] = p;
        group_end_pos[static_cast<size_t>(g)] = p + 1;
      }
      ++seen[si];
      group_of_pos[static_cast<size_t>(p)] = g;
    }
  }
  auto exclude_rows = [&](const std::vector<int64_t>& positions) -> at::Tensor {
    if (!excl.defined()) return {};
    return excl.index_select(0, at::tensor(positions, at::kLong)).t().contiguous();
  };
  std::vector<int64_t> pos_of_column(static_cast<size_t>(I));
  for (int64_t p = 0; p < I; ++p) pos_of_column[static_cast<size_t>(order[static_cast<size_t>(p)])] = p;
  if (up_front) {
    // From the weights before any update, in storage order: static groups after the dead
    // columns were zeroed, per-channel grids before (as fasterquant calls find_params first).
    for (size_t si = 0; si < L.segments.size(); ++si) {
      const Segment& s = L.segments[si];
      const int64_t width = m.group_size == kPerChannel ? s.size() : m.group_size;
      for (int64_t g = 0; g < L.groups_in(s); ++g) {
        std::vector<int64_t> cols, pos;
        for (int64_t k = s.begin + g * width; k < std::min(s.end, s.begin + (g + 1) * width); ++k) {
          const int64_t c = L.storage_columns[static_cast<size_t>(k)];
          cols.push_back(c);
          pos.push_back(pos_of_column[static_cast<size_t>(c)]);
        }
        const at::Tensor& source = m.group_size == kPerChannel ? W_before_dead : W;
        const at::Tensor x = source.index_select(1, at::tensor(cols, at::kLong));
        grids[static_cast<size_t>(goff[si] + g)] =
            make_grid(x, at::where(seg_maxq[si] == 0, at::ones_like(seg_maxq[si]), seg_maxq[si]),
                      m.symmetric, m.clip_search, exclude_rows(pos));
      }
    }
  }
  // Row bits: 16-bit rows / segments / fp16 columns are stored in fp16.
  std::vector<std::vector<uint8_t>> row16(L.segments.size());
  for (size_t si = 0; si < L.segments.size(); ++si) {
    const at::Tensor mq = seg_maxq[si].contiguous();
    const float* mqp = mq.data_ptr<float>();
    row16[si].resize(static_cast<size_t>(O));
    for (int64_t r = 0; r < O; ++r) row16[si][static_cast<size_t>(r)] = mqp[r] == 0.0f;
  }

  std::vector<float> err(static_cast<size_t>(kBlockSize * O));
  for (int64_t i1 = 0; i1 < I; i1 += kBlockSize) {
    const int64_t i2 = std::min(I, i1 + kBlockSize), count = i2 - i1;
    if (!up_front) {
      // Grids of the groups that start in this block, from the columns as they are now (before
      // this block's in-block updates; later columns have had no update of this block yet).
      for (int64_t p = i1; p < i2; ++p) {
        const int64_t g = group_of_pos[static_cast<size_t>(p)];
        if (g < 0 || group_start_pos[static_cast<size_t>(g)] != p) continue;
        const int64_t e = group_end_pos[static_cast<size_t>(g)];
        std::vector<int64_t> pos(static_cast<size_t>(e - p));
        std::iota(pos.begin(), pos.end(), p);
        const at::Tensor x = Wp.slice(0, p, e).t();
        const size_t si = static_cast<size_t>(seg_of_pos[static_cast<size_t>(p)]);
        grids[static_cast<size_t>(g)] = make_grid(
            x, at::where(seg_maxq[si] == 0, at::ones_like(seg_maxq[si]), seg_maxq[si]),
            m.symmetric, m.clip_search, exclude_rows(pos));
      }
    }
    // The column sweep of this block, rows in parallel.
    at::parallel_for(0, O, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t p = i1; p < i2; ++p) {
        const float d = u[p * I + p];
        float* w = wp + p * O;
        float* q = qp + p * O;
        uint8_t* code = cp + p * O;
        float* e = err.data() + (p - i1) * O;
        const int64_t si = seg_of_pos[static_cast<size_t>(p)];
        const int64_t g = group_of_pos[static_cast<size_t>(p)];
        const Grid* grid = g >= 0 ? &grids[static_cast<size_t>(g)] : nullptr;
        for (int64_t r = r0; r < r1; ++r) {
          float qv;
          const bool keep16 = si < 0 || grid == nullptr || row16[static_cast<size_t>(si)][static_cast<size_t>(r)] ||
                              (ex && ex[p * O + r]);
          if (keep16) {
            qv = static_cast<float>(c10::Half(w[r]));
          } else {
            const float s = grid->scale[static_cast<size_t>(r)], z = grid->zero[static_cast<size_t>(r)];
            const float mq = grid->maxq[static_cast<size_t>(r)];
            float c = std::nearbyint(w[r] / s) + z;
            c = std::min(std::max(c, 0.0f), mq);
            code[r] = static_cast<uint8_t>(c);
            qv = (c - z) * s;
          }
          q[r] = qv;
          e[r] = (w[r] - qv) / d;
        }
        for (int64_t p2 = p + 1; p2 < i2; ++p2) {
          const float h = u[p * I + p2];
          if (h == 0.0f) continue;
          float* w2 = wp + p2 * O;
          for (int64_t r = r0; r < r1; ++r) w2[r] -= h * e[r];
        }
      }
    });
    if (i2 < I) {
      const at::Tensor E = at::from_blob(err.data(), {count, O}, W.options());
      at::Tensor rest = Wp.slice(0, i2, I);
      rest.addmm_(U.slice(0, i1, i2).slice(1, i2, I).t(), E, /*beta=*/1, /*alpha=*/-1);
    }
  }

  // Back to [O, stored columns] in the stored order, plus the fp16 columns.
  StoredResult r;
  const at::Tensor idx = at::tensor(std::vector<int64_t>(out_pos.begin(), out_pos.begin() + Is), at::kLong);
  r.deq = at::empty({O, Is}, W.options());
  r.codes = at::zeros({O, Is}, W.options().dtype(at::kByte));
  if (Is > 0) {
    r.deq.index_copy_(1, idx, Qp.slice(0, 0, Is).t());
    r.codes.index_copy_(1, idx, codes_p.slice(0, 0, Is).t());
  }
  r.scales = at::ones({O, G}, W.options());
  r.zeros = at::zeros({O, G}, W.options());
  for (int64_t g = 0; g < G; ++g) {
    const Grid& gr = grids[static_cast<size_t>(g)];
    if (gr.scale.empty()) continue;
    r.scales.select(1, g).copy_(at::tensor(gr.scale, at::kFloat));
    r.zeros.select(1, g).copy_(at::tensor(gr.zero, at::kFloat));
  }
  if (fp16_column_values) *fp16_column_values = Qp.slice(0, Is, I).t().contiguous();
  return r;
}

}  // namespace bitscape::detail
