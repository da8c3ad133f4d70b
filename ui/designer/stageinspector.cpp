#include "ui/designer/stageinspector.h"

#include "ui/designer/fieldbindings.h"

#include <QBoxLayout>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QStackedWidget>

namespace lw {

namespace {

QSpinBox *makeSpin(const QString &name, int min, int max, int step = 1)
{
    auto *spin = new QSpinBox;
    spin->setObjectName(name);
    spin->setRange(min, max);
    spin->setSingleStep(step);
    spin->setAccelerated(true);
    spin->setToolTip(StageInspector::tr("Valid range: %1 to %2").arg(min).arg(max));
    return spin;
}

QWidget *withRange(QWidget *field, const QString &range)
{
    auto *box = new QWidget;
    auto *row = new QHBoxLayout(box);
    row->setContentsMargins(0, 0, 0, 0);
    row->addWidget(field, 1);
    auto *hint = new QLabel(range);
    hint->setStyleSheet(QStringLiteral("QLabel { color: #6b7485; }"));
    hint->setMinimumWidth(70);
    row->addWidget(hint);
    return box;
}

QWidget *spinRow(QSpinBox *spin)
{
    return withRange(spin,
                     QStringLiteral("%1 \u2013 %2").arg(spin->minimum()).arg(spin->maximum()));
}

QComboBox *makeCombo(const QString &name, const QList<QPair<QString, int>> &items)
{
    auto *combo = new QComboBox;
    combo->setObjectName(name);
    for (const auto &[text, value] : items)
        combo->addItem(text, value);
    return combo;
}

QCheckBox *makeCheck(const QString &name, const QString &text)
{
    auto *check = new QCheckBox(text);
    check->setObjectName(name);
    return check;
}

QLabel *makeTitle(QWidget *parent)
{
    auto *title = new QLabel(parent);
    QFont f = title->font();
    f.setBold(true);
    f.setPointSizeF(f.pointSizeF() * 1.1);
    title->setFont(f);
    return title;
}

QLabel *makeLockNote(QWidget *parent)
{
    auto *note = new QLabel(StageInspector::tr("Locked: this part was trained in the run the "
                                               "design branches from."),
                            parent);
    note->setWordWrap(true);
    note->setStyleSheet(QStringLiteral("QLabel { color: #6b7485; }"));
    note->hide();
    return note;
}

QFormLayout *makeForm(QWidget *parent)
{
    auto *form = new QFormLayout(parent);
    form->setContentsMargins(0, 4, 0, 0);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->setLabelAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return form;
}

} // namespace

StageInspector::Page StageInspector::addPageFrame(QWidget *page, QVBoxLayout *v)
{
    Page frame;
    frame.title = makeTitle(page);
    v->addWidget(frame.title);
    frame.lock = makeLockNote(page);
    v->addWidget(frame.lock);
    frame.form = new QWidget(page);
    v->addWidget(frame.form);
    return frame;
}

void StageInspector::Page::setLocked(bool locked) const
{
    form->setEnabled(!locked);
    lock->setVisible(locked);
}

StageInspector::StageInspector(QWidget *parent)
    : QWidget(parent)
    , m_inputFields(std::make_unique<FieldBindings<InputSpec>>(
          this,
          [this](const QString &field, const auto &apply) {
              apply(m_input);
              emitInput(field);
          }))
    , m_stageFields(std::make_unique<FieldBindings<StageSpec>>(
          this,
          [this](const QString &field, const auto &apply) {
              apply(m_stage);
              emitStage(field);
          }))
    // Kind and depth decide which head options apply; the others leave them as they are.
    , m_headFields(std::make_unique<FieldBindings<StageSpec>>(
          this, [this](const QString &field, const auto &apply) {
              apply(m_stage);
              updateHeadEnabled();
              emitStage(field);
          }))
{
    setObjectName(QStringLiteral("stageInspector"));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 8, 8, 8);
    m_pages = new QStackedWidget(this);
    layout->addWidget(m_pages);
    layout->addStretch(1);

    auto *none = new QLabel(tr("Select the input, a stage or an auxiliary head on the canvas to "
                               "edit it."));
    none->setWordWrap(true);
    none->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    none->setStyleSheet(QStringLiteral("QLabel { color: #6b7485; }"));
    m_pages->addWidget(none);
    m_pages->addWidget(buildInputPage());
    m_pages->addWidget(buildStagePage());
    m_pages->addWidget(buildHeadPage());
}

StageInspector::~StageInspector() = default;

QWidget *StageInspector::buildInputPage()
{
    auto *page = new QWidget;
    auto *v = new QVBoxLayout(page);
    v->setContentsMargins(0, 0, 0, 0);
    m_inputPage = addPageFrame(page, v);
    m_inputPage.title->setText(tr("Input"));
    QFormLayout *form = makeForm(m_inputPage.form);
    FieldBindings<InputSpec> &fields = *m_inputFields;
    QSpinBox *channels = fields.bind(
        makeSpin(QStringLiteral("inputChannels"), 1, SpecLimits::maxChannels),
        QStringLiteral("channels"), [](auto &in) -> auto & { return in.channels; });
    QSpinBox *height = fields.bind(
        makeSpin(QStringLiteral("inputHeight"), 1, SpecLimits::maxSide), QStringLiteral("height"),
        [](auto &in) -> auto & { return in.height; });
    QSpinBox *width = fields.bind(
        makeSpin(QStringLiteral("inputWidth"), 1, SpecLimits::maxSide), QStringLiteral("width"),
        [](auto &in) -> auto & { return in.width; });
    QSpinBox *classes = fields.bind(
        makeSpin(QStringLiteral("inputClasses"), 2, SpecLimits::maxClasses),
        QStringLiteral("classes"), [](auto &in) -> auto & { return in.classes; });
    QComboBox *downsample = fields.bind(
        makeCombo(QStringLiteral("inputDownsample"),
                  {{tr("none"), int(Downsample::None)},
                   {tr("\u03c8(2) space-to-depth"), int(Downsample::Psi)}}),
        QStringLiteral("downsample"), [](auto &in) -> auto & { return in.downsample; });
    downsample->setToolTip(tr("The ImageNet models apply \u03c8(2) to the image: "
                              "3\u00d7224\u00d7224 \u2192 12\u00d7112\u00d7112"));
    form->addRow(tr("Channels"), spinRow(channels));
    form->addRow(tr("Height"), spinRow(height));
    form->addRow(tr("Width"), spinRow(width));
    form->addRow(tr("Classes"), spinRow(classes));
    form->addRow(tr("Downsampling"), downsample);
    v->addStretch(1);
    return page;
}

QWidget *StageInspector::buildStagePage()
{
    auto *page = new QWidget;
    auto *v = new QVBoxLayout(page);
    v->setContentsMargins(0, 0, 0, 0);
    m_stagePage = addPageFrame(page, v);
    QFormLayout *form = makeForm(m_stagePage.form);
    FieldBindings<StageSpec> &fields = *m_stageFields;
    QComboBox *downsample = fields.bind(
        makeCombo(QStringLiteral("stageDownsample"),
                  {{tr("none"), int(Downsample::None)},
                   {tr("\u03c8(2) invertible"), int(Downsample::Psi)},
                   {tr("max-pool 2\u00d72"), int(Downsample::MaxPool)},
                   {tr("avg-pool 2\u00d72"), int(Downsample::AvgPool)},
                   {tr("stride-2 conv"), int(Downsample::Stride)}}),
        QStringLiteral("downsample"), [](auto &s) -> auto & { return s.downsample; });
    downsample->setToolTip(tr("Applied before the convolution; halves height and width"));
    QSpinBox *width = fields.bind(
        makeSpin(QStringLiteral("stageWidth"), 1, SpecLimits::maxWidth), QStringLiteral("width"),
        [](auto &s) -> auto & { return s.width; });
    width->setToolTip(
        tr("Output channels of the block's convolution (1 to %1)").arg(SpecLimits::maxWidth));
    QSpinBox *kernel = fields.bind(
        makeSpin(QStringLiteral("stageKernel"), 1, SpecLimits::maxKernel, 2),
        QStringLiteral("kernel"), [](auto &s) -> auto & { return s.kernel; });
    kernel->setToolTip(tr("Odd kernel side, 1 to 11; padding = kernel / 2 keeps the side"));
    QCheckBox *bn = makeCheck(QStringLiteral("stageBn"), tr("BatchNorm after the convolution"));
    fields.onShow([bn](const StageSpec &s) { setSilently(bn, s.bn); });
    QCheckBox *bias = fields.bind(
        makeCheck(QStringLiteral("stageBias"), tr("Convolution bias")), QStringLiteral("bias"),
        [](auto &s) -> auto & { return s.bias; });
    bias->setToolTip(tr("Usually on exactly when BatchNorm is off (toggling BN sets it)"));
    form->addRow(tr("Downsampling"), downsample);
    form->addRow(tr("Width"), spinRow(width));
    form->addRow(tr("Kernel"), withRange(kernel, tr("odd, 1 \u2013 11")));
    form->addRow(QString(), bn);
    form->addRow(QString(), bias);
    auto *toHead = new QPushButton(tr("Edit its auxiliary head \u2192"), page);
    toHead->setObjectName(QStringLiteral("editHead"));
    toHead->setFlat(true);
    connect(toHead, &QPushButton::clicked, this, [this] { emit headRequested(m_index); });
    v->addWidget(toHead, 0, Qt::AlignLeft);
    v->addStretch(1);

    connect(bn, &QCheckBox::toggled, this, [this, bias](bool on) {
        m_stage.bn = on;
        m_stage.bias = !on; // the spec's default when bias is absent
        setSilently(bias, m_stage.bias);
        emitStage(QStringLiteral("bn"));
    });
    return page;
}

QWidget *StageInspector::buildHeadPage()
{
    auto *page = new QWidget;
    auto *v = new QVBoxLayout(page);
    v->setContentsMargins(0, 0, 0, 0);
    m_headPage = addPageFrame(page, v);
    QFormLayout *form = makeForm(m_headPage.form);
    FieldBindings<StageSpec> &fields = *m_headFields;
    QComboBox *kind = fields.bind(
        makeCombo(QStringLiteral("headKind"), {{tr("conv (the paper's)"), int(HeadKind::Conv)},
                                               {tr("MLP (VGG's classifier)"), int(HeadKind::Mlp)}}),
        QStringLiteral("head.kind"), [](auto &s) -> auto & { return s.head.kind; });
    QSpinBox *k = fields.bind(
        makeSpin(QStringLiteral("headK"), 1, SpecLimits::maxHeadK), QStringLiteral("head.k"),
        [](auto &s) -> auto & { return s.head.k; });
    k->setToolTip(tr("Hidden layers of the auxiliary problem, counting the block"));
    m_headWidth = fields.bind(
        makeSpin(QStringLiteral("headWidth"), 1, SpecLimits::maxWidth),
        QStringLiteral("head.width"), [](auto &s) -> auto & { return s.head.width; });
    m_headWidth->setToolTip(tr("M\u0303: width of the hidden convs (conv) or hidden units (MLP)"));
    QSpinBox *pooled = fields.bind(
        makeSpin(QStringLiteral("headPooled"), 1, SpecLimits::maxSide),
        QStringLiteral("head.pooled"), [](auto &s) -> auto & { return s.head.pooled; });
    pooled->setToolTip(tr("Side after pooling (2: 2\u00d72; VGG's classifier: 7); at most "
                          "the stage's output side"));
    QComboBox *pool = fields.bind(
        makeCombo(QStringLiteral("headPool"), {{tr("fixed (reference)"), int(HeadPool::Fixed)},
                                               {tr("adaptive"), int(HeadPool::Adaptive)}}),
        QStringLiteral("head.pool"), [](auto &s) -> auto & { return s.head.pool; });
    pool->setToolTip(tr("Fixed: AvgPool with kernel = stride = side / pooled (drops the "
                        "last row and column at odd sides). Adaptive: adaptive pooling."));
    m_headPadding = fields.bind(
        makeSpin(QStringLiteral("headPadding"), 0, 1), QStringLiteral("head.padding"),
        [](auto &s) -> auto & { return s.head.padding; });
    m_headBn = fields.bind(
        makeCheck(QStringLiteral("headBn"), tr("BatchNorm in the head")), QStringLiteral("head.bn"),
        [](auto &s) -> auto & { return s.head.bn; });
    m_headDropout = new QDoubleSpinBox;
    m_headDropout->setObjectName(QStringLiteral("headDropout"));
    m_headDropout->setRange(0.0, 0.99);
    m_headDropout->setSingleStep(0.05);
    m_headDropout->setDecimals(2);
    fields.bind(
        m_headDropout, QStringLiteral("head.dropout"),
        [](auto &s) -> auto & { return s.head.dropout; });
    QCheckBox *maxpoolFirst = fields.bind(
        makeCheck(QStringLiteral("headMaxpoolFirst"), tr("2\u00d72 max-pool before the head")),
        QStringLiteral("head.maxpoolFirst"), [](auto &s) -> auto & { return s.head.maxpoolFirst; });
    form->addRow(tr("Kind"), kind);
    form->addRow(tr("k"), spinRow(k));
    form->addRow(tr("Width M\u0303"), spinRow(m_headWidth));
    form->addRow(tr("Pooled side"), spinRow(pooled));
    form->addRow(tr("Pooling"), pool);
    form->addRow(tr("Conv padding"), spinRow(m_headPadding));
    form->addRow(tr("Dropout"), withRange(m_headDropout, QStringLiteral("0 \u2013 0.99")));
    form->addRow(QString(), m_headBn);
    form->addRow(QString(), maxpoolFirst);
    auto *toBlock = new QPushButton(tr("\u2190 Edit the stage's block"), page);
    toBlock->setObjectName(QStringLiteral("editBlock"));
    toBlock->setFlat(true);
    connect(toBlock, &QPushButton::clicked, this, [this] { emit blockRequested(m_index); });
    v->addWidget(toBlock, 0, Qt::AlignLeft);
    v->addStretch(1);
    return page;
}

void StageInspector::showNothing()
{
    m_index = -1;
    m_pages->setCurrentIndex(0);
}

void StageInspector::showInput(const InputSpec &input, bool locked)
{
    m_index = -1;
    m_input = input;
    m_inputFields->show(input);
    m_inputPage.setLocked(locked);
    m_pages->setCurrentIndex(1);
}

void StageInspector::showStage(int index, const StageSpec &stage, bool locked)
{
    m_index = index;
    m_stage = stage;
    m_stagePage.title->setText(tr("Stage %1").arg(index + 1));
    m_stageFields->show(stage);
    m_stagePage.setLocked(locked);
    m_pages->setCurrentIndex(2);
}

void StageInspector::showHead(int index, const StageSpec &stage, bool locked)
{
    m_index = index;
    m_stage = stage;
    m_headPage.title->setText(tr("Auxiliary head of stage %1").arg(index + 1));
    m_headFields->show(stage);
    updateHeadEnabled();
    m_headPage.setLocked(locked);
    m_pages->setCurrentIndex(3);
}

void StageInspector::updateHeadEnabled()
{
    const HeadSpec &h = m_stage.head;
    const bool conv = h.kind == HeadKind::Conv;
    m_headWidth->setEnabled(h.k > 1);
    m_headPadding->setEnabled(conv && h.k > 1);
    m_headBn->setEnabled(conv);
    m_headDropout->setEnabled(!conv && h.k > 1);
}

void StageInspector::emitStage(const QString &field)
{
    if (m_index >= 0)
        emit stageEdited(m_index, m_stage, field);
}

void StageInspector::emitInput(const QString &field)
{
    emit inputEdited(m_input, field);
}

} // namespace lw
