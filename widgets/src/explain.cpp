#include "bitscape/widgets/explain.h"

#include <QObject>

namespace bitscape::widgets {

QStringList explainedViews() {
  return {"model", "perplexity", "allocation", "pareto", "sensitivity", "allocation-map", "jobs",
          "saliency", "probing"};
}

QString explainHtml(const QString& view) {
  if (view == QLatin1String("model"))
    return QObject::tr(
        "<h3>The model</h3><p>Every decoder block holds seven linear <i>modules</i>: the attention "
        "projections q, k, v, o and the MLP's gate, up and down. They hold most of the parameters "
        "(the share column) and are what weight quantization stores in fewer bits; embeddings, "
        "norms and the head stay in 16 bits.</p>"
        "<p>With grouped-query attention (GQA) k and v are narrower than q: "
        "<code>kv heads &times; head_dim</code> rows.</p>");
  if (view == QLatin1String("perplexity"))
    return QObject::tr(
        "<h3>Perplexity</h3><p><code>PPL = exp(&minus;(1/N) &Sigma; log p(x<sub>t</sub> | "
        "x<sub>&lt;t</sub>))</code> over non-overlapping windows of the test text, joined with "
        "blank lines and tokenized once: the protocol of GPTQ (Frantar et al., 2023) and the "
        "papers after it. The chart shows each window's mean NLL, so a perplexity dominated by a "
        "few hard windows is visible.</p>");
  if (view == QLatin1String("allocation"))
    return QObject::tr(
        "<h3>The allocation</h3><p>Bits, group size and quantizer per module. The budget meter "
        "counts what is stored: <code>bits with overhead = (codes + scales + zeros + codebooks + "
        "outliers) / weights</code>. With b-bit codes and an fp16 scale and zero per group of g "
        "weights that is <code>b + 32/g</code>: uniform 3-bit at group 128 is 3.25 bits.</p>"
        "<p>RTN rounds each weight to the nearest grid point; GPTQ (Frantar et al., 2023) "
        "quantizes column by column and spreads each column's error over the remaining columns "
        "with the inverse Hessian <code>H = 2 X X<sup>T</sup></code> of the layer inputs; HQQ "
        "(Badri &amp; Shaji, 2023) fits zero-points by half-quadratic optimisation without "
        "data; AWQ (Lin et al., 2024) scales salient input channels first.</p>");
  if (view == QLatin1String("pareto"))
    return QObject::tr(
        "<h3>The Pareto front</h3><p>Each point is one allocation: its average bits against its "
        "mean <code>KL(p<sub>fp</sub> || p<sub>q</sub>)</code> per token to the unquantized "
        "model (or its perplexity) on held-out windows. A point is on the <i>front</i> when no "
        "other point is at most as large and at most as bad. Diamonds are uniform "
        "allocations.</p><ul><li><b>dp</b>: the exact choice of one option per module under a "
        "bit budget over measured per-module curves (a multiple-choice knapsack).</li>"
        "<li><b>AMQ</b>: HQQ as a fast proxy, an RBF predictor of the loss "
        "trained on measured configurations, NSGA-II over (bits, predicted loss), iterative "
        "update.</li><li><b>AutoMixQ</b>: perturbation search with elites "
        "on <code>CE + &alpha; T<sup>2</sup> KL(softmax(z<sub>t</sub>/T) || "
        "softmax(z<sub>s</sub>/T))</code>, &alpha;=1, T=2.</li><li><b>CMPQ</b>: bits per input channel from activation norms, k-means codebooks, fp16 "
        "outliers.</li></ul>");
  if (view == QLatin1String("sensitivity"))
    return QObject::tr(
        "<h3>Sensitivity</h3><p>Each cell is one module quantized <i>alone</i>, measured against "
        "the unquantized model: the KL or the perplexity increase at b bits. The layer objective "
        "is GPTQ's <code>tr((W&minus;Q) H (W&minus;Q)<sup>T</sup>)</code>, local to the layer; "
        "HAWQ-v2 (Dong et al., 2020) weighs <code>||W&minus;Q||<sup>2</sup></code> by the "
        "Hessian trace of the loss, estimated with Hutchinson's method <code>tr(H) &asymp; "
        "E[v<sup>T</sup> H v]</code>. The first block is often the most fragile.</p>");
  if (view == QLatin1String("allocation-map"))
    return QObject::tr(
        "<h3>The allocation map</h3><p>The allocation as a grid: rows are blocks, columns the "
        "seven modules, colour the code bits per weight (a module whose channel classes mix "
        "bit-widths shows their average). Below, the layer-wise bars of AutoMixQ's Figure 5 "
        "with the average as a dashed line. Switch on <i>Paint</i> and drag over cells to set "
        "their bits.</p>");
  if (view == QLatin1String("saliency"))
    return QObject::tr(
        "<h3>Saliency</h3><p>How much each weight of the selected module matters, pooled to the "
        "screen: OBS's <code>w<sub>ij</sub><sup>2</sup> / [H<sup>&minus;1</sup>]<sub>jj</sub></code> "
        "(the loss increase of removing one weight, Optimal Brain Surgeon), TAMMP's "
        "<code>w<sup>2</sup> / [H<sup>&minus;1</sup>]<sub>jj</sub><sup>2</sup></code>, the "
        "activation-weighted <code>|w| &middot; ||x<sub>j</sub>||</code> of AWQ, "
        "<code>diag(H) w<sup>2</sup></code>, and the empirical Fisher "
        "<code>(&part;L/&part;w)<sup>2</sup></code> of SqueezeLLM. The column profile shows why "
        "a few input channels are worth protecting. Lines over the map mark the channels the "
        "editor's allocation protects: explicit channel lists, and the channels a class picks "
        "by activation or weight norm (CMPQ, AutoMixQ: rows for output channels), resolved from "
        "the project's calibration statistics exactly as the quantizer resolves them; violet "
        "lines are CMPQ's fp16 outlier columns.</p>");
  if (view == QLatin1String("probing"))
    return QObject::tr(
        "<h3>Multi-source probing</h3><p>TAMMP probes the model with several corpora (sources) "
        "and marks, for each, the input columns whose Hessian saliency "
        "<code>w<sup>2</sup> / [H<sup>&minus;1</sup>]<sub>jj</sub><sup>2</sup></code> is "
        "highest. Columns critical for every source are the ones to keep in fp16; the consensus "
        "Jaccard compactness says how much the sources agree. Its two grouping strategies turn "
        "the intersection and the union into fp16, 3-bit and 2-bit columns; the buttons load "
        "either allocation into the editor and <i>Run probing</i> starts a new run.</p>");
  if (view == QLatin1String("jobs"))
    return QObject::tr(
        "<h3>Jobs</h3><p>Everything slow runs on a worker thread: loading, evaluating, "
        "searching, measuring. Each job reports its stage, progress and an estimate of the time "
        "left; cancelling leaves every file valid (a cancelled search keeps its completed "
        "iterations and resumes from the project).</p>");
  return QObject::tr("<h3>Bitscape</h3><p>Select a view to see what it shows, its formula and "
                     "the paper it comes from.</p>");
}

}  // namespace bitscape::widgets
