#include "bitscape/widgets/model_tree_model.h"

#include <QAbstractItemModelTester>
#include <QStringList>

#include <gtest/gtest.h>

#include "qt_printers.h"

using bitscape::ModelSummary;
using bitscape::ModuleInfo;
using bitscape::widgets::ModelTreeModel;

namespace {

ModuleInfo module(const std::string& name, const std::string& kind, int block,
                  std::vector<int64_t> shape, const std::string& dtype = "BF16",
                  bool bias = false) {
  ModuleInfo m;
  m.name = name;
  m.kind = kind;
  m.block = block;
  m.tensors.push_back({name + ".weight", dtype, shape});
  if (bias) m.tensors.push_back({name + ".bias", dtype, {shape.front()}});
  for (const auto& t : m.tensors) m.params += t.numel();
  return m;
}

// A two-block LLaMA-style model: hidden 256, 4 heads of 64, 2 kv heads, MLP 512, vocab 2048.
ModelSummary twoBlockModel(bool tied = false) {
  ModelSummary s;
  s.path = "/models/tiny";
  s.config.architecture = "LlamaForCausalLM";
  s.config.num_hidden_layers = 2;
  s.config.tie_word_embeddings = tied;
  s.modules.push_back(module("model.embed_tokens", "embedding", -1, {2048, 256}));
  for (int b = 0; b < 2; ++b) {
    const std::string p = "model.layers." + std::to_string(b) + ".";
    s.modules.push_back(module(p + "input_layernorm", "norm", b, {256}));
    s.modules.push_back(module(p + "self_attn.q_proj", "linear", b, {256, 256}, "BF16", true));
    s.modules.push_back(module(p + "self_attn.k_proj", "linear", b, {128, 256}, "BF16", true));
    s.modules.push_back(module(p + "self_attn.v_proj", "linear", b, {128, 256}, "BF16", true));
    s.modules.push_back(module(p + "self_attn.o_proj", "linear", b, {256, 256}));
    s.modules.push_back(module(p + "post_attention_layernorm", "norm", b, {256}));
    s.modules.push_back(module(p + "mlp.gate_proj", "linear", b, {512, 256}));
    s.modules.push_back(module(p + "mlp.up_proj", "linear", b, {512, 256}));
    s.modules.push_back(module(p + "mlp.down_proj", "linear", b, {256, 512}, "F32"));
  }
  s.modules.push_back(module("model.norm", "norm", -1, {256}));
  if (!tied) s.modules.push_back(module("lm_head", "head", -1, {2048, 256}));
  for (const auto& m : s.modules) s.total_params += m.params;
  return s;
}

// Per block: 2 norms of 256, q 65,536 + 256, k and v 32,768 + 128 each, o 65,536,
// gate/up/down 131,072 each.
constexpr int64_t kBlockParams = 2 * 256 + (65536 + 256) + 2 * (32768 + 128) + 65536 + 3 * 131072;
constexpr int64_t kEmbedding = 2048 * 256;
constexpr int64_t kTotal = 2 * kEmbedding + 2 * kBlockParams + 256;

QString cell(const ModelTreeModel& model, const QModelIndex& parent, int row, int column,
             int role = Qt::DisplayRole) {
  return model.data(model.index(row, column, parent), role).toString();
}

QStringList topLevelNames(const ModelTreeModel& model) {
  QStringList names;
  for (int r = 0; r < model.rowCount(); ++r) names << cell(model, {}, r, 0);
  return names;
}

// Fails the current test for every complaint QAbstractItemModelTester makes.
class ModelTesterWarnings {
 public:
  ModelTesterWarnings() { previous_ = qInstallMessageHandler(&ModelTesterWarnings::handler); }
  ~ModelTesterWarnings() { qInstallMessageHandler(previous_); }

 private:
  static void handler(QtMsgType type, const QMessageLogContext& context, const QString& msg) {
    if (type != QtDebugMsg && type != QtInfoMsg)
      ADD_FAILURE() << (context.category ? context.category : "") << ": " << msg.toStdString();
  }
  QtMessageHandler previous_ = nullptr;
};

}  // namespace

TEST(ModelTreeModelTest, TopLevelRowsAreEmbeddingsBlocksFinalNormAndHead) {
  ModelTreeModel model;
  model.setSummary(twoBlockModel());
  EXPECT_EQ(model.rowCount(), 5);
  EXPECT_EQ(topLevelNames(model),
            QStringList({"embeddings", "block 0", "block 1", "final norm", "lm_head"}));
  EXPECT_EQ(model.columnCount(), 7);
}

TEST(ModelTreeModelTest, HeaderNamesTheColumns) {
  ModelTreeModel model;
  QStringList headers;
  for (int c = 0; c < model.columnCount(); ++c)
    headers << model.headerData(c, Qt::Horizontal).toString();
  EXPECT_EQ(headers, QStringList({"Name", "Kind", "Shape", "Dtype", "Parameters", "Share", "Bits"}));
}

TEST(ModelTreeModelTest, BlockChildrenAreItsModulesInOrderWithShortNames) {
  ModelTreeModel model;
  model.setSummary(twoBlockModel());
  const QModelIndex block1 = model.index(2, 0);
  ASSERT_EQ(model.rowCount(block1), 9);
  EXPECT_EQ(cell(model, block1, 0, ModelTreeModel::NameColumn), "input_layernorm");
  EXPECT_EQ(cell(model, block1, 1, ModelTreeModel::NameColumn), "self_attn.q_proj");
  EXPECT_EQ(cell(model, block1, 8, ModelTreeModel::NameColumn), "mlp.down_proj");
  EXPECT_EQ(cell(model, block1, 1, ModelTreeModel::NameColumn, Qt::ToolTipRole),
            "model.layers.1.self_attn.q_proj");
  EXPECT_EQ(cell(model, block1, 1, 0, ModelTreeModel::ModuleNameRole),
            "model.layers.1.self_attn.q_proj");
  EXPECT_EQ(model.parent(model.index(1, 0, block1)), block1);
}

TEST(ModelTreeModelTest, ModuleRowShowsKindShapeDtypeParametersAndShare) {
  ModelTreeModel model;
  model.setSummary(twoBlockModel());
  const QModelIndex block0 = model.index(1, 0);
  // mlp.gate_proj: 512 x 256 = 131,072 parameters.
  EXPECT_EQ(cell(model, block0, 6, ModelTreeModel::KindColumn), "linear");
  EXPECT_EQ(cell(model, block0, 6, ModelTreeModel::ShapeColumn), QString::fromUtf8("512 × 256"));
  EXPECT_EQ(cell(model, block0, 6, ModelTreeModel::DtypeColumn), "BF16");
  EXPECT_EQ(cell(model, block0, 6, ModelTreeModel::ParametersColumn), "131,072");
  EXPECT_EQ(cell(model, block0, 6, ModelTreeModel::ShareColumn),
            QString::number(100.0 * 131072 / kTotal, 'f', 2) + " %");
  const QVariant raw =
      model.data(model.index(6, ModelTreeModel::ParametersColumn, block0),
                 ModelTreeModel::RawValueRole);
  EXPECT_EQ(raw.toLongLong(), 131072);
  // A module with a bias counts both tensors and says so in its shape.
  EXPECT_EQ(cell(model, block0, 1, ModelTreeModel::ShapeColumn),
            QString::fromUtf8("256 × 256 + bias"));
  EXPECT_EQ(cell(model, block0, 1, ModelTreeModel::ParametersColumn), "65,792");
}

TEST(ModelTreeModelTest, BlockRowShowsTheSumOfItsModulesParameters) {
  ModelTreeModel model;
  model.setSummary(twoBlockModel());
  const QModelIndex block0 = model.index(1, ModelTreeModel::ParametersColumn);
  EXPECT_EQ(model.data(block0, ModelTreeModel::RawValueRole).toLongLong(), kBlockParams);
  EXPECT_EQ(model.data(block0).toString(), "590,848");
  EXPECT_EQ(cell(model, {}, 1, ModelTreeModel::KindColumn), "block");
  // down_proj is F32 while the rest are BF16.
  EXPECT_EQ(cell(model, {}, 1, ModelTreeModel::DtypeColumn), "mixed");
}

TEST(ModelTreeModelTest, SingleModuleGroupsShowTheModuleItself) {
  ModelTreeModel model;
  model.setSummary(twoBlockModel());
  EXPECT_EQ(model.rowCount(model.index(0, 0)), 0);
  EXPECT_EQ(cell(model, {}, 0, ModelTreeModel::ShapeColumn), QString::fromUtf8("2048 × 256"));
  EXPECT_EQ(cell(model, {}, 0, ModelTreeModel::ParametersColumn), "524,288");
  EXPECT_EQ(cell(model, {}, 0, ModelTreeModel::NameColumn, Qt::ToolTipRole),
            "model.embed_tokens");
  EXPECT_EQ(cell(model, {}, 3, ModelTreeModel::ParametersColumn), "256");
  EXPECT_EQ(cell(model, {}, 4, ModelTreeModel::KindColumn), "head");
}

TEST(ModelTreeModelTest, SharesOfTopLevelRowsAddUpToTheTotal) {
  ModelTreeModel model;
  model.setSummary(twoBlockModel());
  EXPECT_EQ(model.totalParameters(), kTotal);
  double sum = 0;
  for (int r = 0; r < model.rowCount(); ++r)
    sum += model.data(model.index(r, ModelTreeModel::ShareColumn), ModelTreeModel::RawValueRole)
               .toDouble();
  EXPECT_NEAR(sum, 1.0, 1e-12);
}

TEST(ModelTreeModelTest, TiedHeadIsShownWithoutParametersOfItsOwn) {
  ModelTreeModel model;
  model.setSummary(twoBlockModel(/*tied=*/true));
  ASSERT_EQ(model.rowCount(), 5);
  EXPECT_EQ(cell(model, {}, 4, ModelTreeModel::NameColumn), "lm_head");
  EXPECT_EQ(cell(model, {}, 4, ModelTreeModel::ShapeColumn), "tied to embeddings");
  EXPECT_EQ(cell(model, {}, 4, ModelTreeModel::ParametersColumn), "");
}

TEST(ModelTreeModelTest, HeadModuleWithoutTensorsIsShownAsTied) {
  ModelSummary s = twoBlockModel(/*tied=*/true);
  ModuleInfo head;  // as core's summarize_tensors lists a tied head
  head.name = "lm_head";
  head.kind = "head";
  s.modules.push_back(head);
  ModelTreeModel model;
  model.setSummary(s);
  ASSERT_EQ(model.rowCount(), 5);
  EXPECT_EQ(cell(model, {}, 4, ModelTreeModel::ShapeColumn), "tied to embeddings");
  EXPECT_EQ(cell(model, {}, 4, ModelTreeModel::ParametersColumn), "");
}

TEST(ModelTreeModelTest, EveryConfiguredBlockHasARowEvenWithoutListedModules) {
  ModelSummary s = twoBlockModel();
  s.config.num_hidden_layers = 3;
  ModelTreeModel model;
  model.setSummary(s);
  EXPECT_EQ(topLevelNames(model), QStringList({"embeddings", "block 0", "block 1", "block 2",
                                               "final norm", "lm_head"}));
  EXPECT_EQ(model.rowCount(model.index(3, 0)), 0);
}

TEST(ModelTreeModelTest, PassesTheQtModelTesterThroughResets) {
  ModelTesterWarnings failOnWarnings;
  ModelTreeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  model.setSummary(twoBlockModel());
  model.setSummary(twoBlockModel(/*tied=*/true));
  model.clear();
  EXPECT_EQ(model.rowCount(), 0);
  model.setSummary(twoBlockModel());
  EXPECT_EQ(model.rowCount(), 5);
}

TEST(ModelTreeModelTest, BitsOfTheAllocationShowPerModuleAndAsTheBlocksWeightedAverage) {
  ModelTreeModel model;
  model.setSummary(twoBlockModel());
  const QModelIndex block0 = model.index(1, 0);
  ASSERT_GT(model.rowCount(block0), 1);
  std::map<std::string, double> bits;
  double sum = 0, weights = 0;
  for (int r = 0; r < model.rowCount(block0); ++r) {
    const QString name = model.data(model.index(r, 0, block0), ModelTreeModel::ModuleNameRole).toString();
    const qint64 params =
        model.data(model.index(r, ModelTreeModel::ParametersColumn, block0), ModelTreeModel::RawValueRole).toLongLong();
    const double b = r == 0 ? 4.0 : 2.0;
    bits[name.toStdString()] = b;
    sum += b * double(params);
    weights += double(params);
  }
  model.setModuleBits(bits);
  EXPECT_EQ(model.data(model.index(0, ModelTreeModel::BitsColumn, block0)).toString(), "4");
  EXPECT_NEAR(model.data(model.index(1, ModelTreeModel::BitsColumn), ModelTreeModel::RawValueRole).toDouble(),
              sum / weights, 1e-12);
  EXPECT_EQ(model.data(model.index(1, ModelTreeModel::BitsColumn, block0), Qt::BackgroundRole).value<QColor>(),
            ModelTreeModel::bitsColour(2.0));
  EXPECT_FALSE(model.data(model.index(2, ModelTreeModel::BitsColumn), Qt::BackgroundRole).isValid());  // block 1
  // Its text is black on the light 4-bit yellow and white on the dark 2-bit red, in either
  // palette (the dark palette's white text was unreadable on yellow).
  EXPECT_EQ(model.data(model.index(0, ModelTreeModel::BitsColumn, block0), Qt::ForegroundRole).value<QColor>(),
            QColor(Qt::black));
  EXPECT_EQ(model.data(model.index(1, ModelTreeModel::BitsColumn, block0), Qt::ForegroundRole).value<QColor>(),
            QColor(Qt::white));
}
