#include "ui/designer/stageinspector.h"

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

void setSilently(QSpinBox *w, int v)
{
    const QSignalBlocker block(w);
    if (w->value() != v)
        w->setValue(v);
}
void setSilently(QDoubleSpinBox *w, double v)
{
    const QSignalBlocker block(w);
    if (w->value() != v)
        w->setValue(v);
}
void setSilently(QCheckBox *w, bool v)
{
    const QSignalBlocker block(w);
    w->setChecked(v);
}
void setSilently(QComboBox *w, int data)
{
    const QSignalBlocker block(w);
    w->setCurrentIndex(w->findData(data));
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

StageInspector::StageInspector(QWidget *parent)
    : QWidget(parent)
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

QWidget *StageInspector::buildInputPage()
{
    auto *page = new QWidget;
    auto *v = new QVBoxLayout(page);
    v->setContentsMargins(0, 0, 0, 0);
    QLabel *title = makeTitle(page);
    title->setText(tr("Input"));
    v->addWidget(title);
    m_inputLock = makeLockNote(page);
    v->addWidget(m_inputLock);
    m_inputForm = new QWidget(page);
    QFormLayout *form = makeForm(m_inputForm);
    m_inChannels = makeSpin(QStringLiteral("inputChannels"), 1, 4096);
    m_inHeight = makeSpin(QStringLiteral("inputHeight"), 1, 16384);
    m_inWidth = makeSpin(QStringLiteral("inputWidth"), 1, 16384);
    m_inClasses = makeSpin(QStringLiteral("inputClasses"), 2, 1000000);
    m_inDownsample = makeCombo(QStringLiteral("inputDownsample"),
                               {{tr("none"), int(Downsample::None)},
                                {tr("\u03c8(2) space-to-depth"), int(Downsample::Psi)}});
    m_inDownsample->setToolTip(tr("The ImageNet models apply \u03c8(2) to the image: "
                                  "3\u00d7224\u00d7224 \u2192 12\u00d7112\u00d7112"));
    form->addRow(tr("Channels"), spinRow(m_inChannels));
    form->addRow(tr("Height"), spinRow(m_inHeight));
    form->addRow(tr("Width"), spinRow(m_inWidth));
    form->addRow(tr("Classes"), spinRow(m_inClasses));
    form->addRow(tr("Downsampling"), m_inDownsample);
    v->addWidget(m_inputForm);
    v->addStretch(1);

    connect(m_inChannels, &QSpinBox::valueChanged, this, [this](int v) {
        m_input.channels = v;
        emitInput(QStringLiteral("channels"));
    });
    connect(m_inHeight, &QSpinBox::valueChanged, this, [this](int v) {
        m_input.height = v;
        emitInput(QStringLiteral("height"));
    });
    connect(m_inWidth, &QSpinBox::valueChanged, this, [this](int v) {
        m_input.width = v;
        emitInput(QStringLiteral("width"));
    });
    connect(m_inClasses, &QSpinBox::valueChanged, this, [this](int v) {
        m_input.classes = v;
        emitInput(QStringLiteral("classes"));
    });
    connect(m_inDownsample, &QComboBox::currentIndexChanged, this, [this] {
        m_input.downsample = Downsample(m_inDownsample->currentData().toInt());
        emitInput(QStringLiteral("downsample"));
    });
    return page;
}

QWidget *StageInspector::buildStagePage()
{
    auto *page = new QWidget;
    auto *v = new QVBoxLayout(page);
    v->setContentsMargins(0, 0, 0, 0);
    m_stageTitle = makeTitle(page);
    v->addWidget(m_stageTitle);
    m_stageLock = makeLockNote(page);
    v->addWidget(m_stageLock);
    m_stageForm = new QWidget(page);
    QFormLayout *form = makeForm(m_stageForm);
    m_downsample = makeCombo(QStringLiteral("stageDownsample"),
                             {{tr("none"), int(Downsample::None)},
                              {tr("\u03c8(2) invertible"), int(Downsample::Psi)},
                              {tr("max-pool 2\u00d72"), int(Downsample::MaxPool)},
                              {tr("avg-pool 2\u00d72"), int(Downsample::AvgPool)},
                              {tr("stride-2 conv"), int(Downsample::Stride)}});
    m_downsample->setToolTip(tr("Applied before the convolution; halves height and width"));
    m_width = makeSpin(QStringLiteral("stageWidth"), 1, 65536);
    m_width->setToolTip(tr("Output channels of the block's convolution (1 to 65536)"));
    m_kernel = makeSpin(QStringLiteral("stageKernel"), 1, 11, 2);
    m_kernel->setToolTip(tr("Odd kernel side, 1 to 11; padding = kernel / 2 keeps the side"));
    m_bn = makeCheck(QStringLiteral("stageBn"), tr("BatchNorm after the convolution"));
    m_bias = makeCheck(QStringLiteral("stageBias"), tr("Convolution bias"));
    m_bias->setToolTip(tr("Usually on exactly when BatchNorm is off (toggling BN sets it)"));
    form->addRow(tr("Downsampling"), m_downsample);
    form->addRow(tr("Width"), spinRow(m_width));
    form->addRow(tr("Kernel"), withRange(m_kernel, tr("odd, 1 \u2013 11")));
    form->addRow(QString(), m_bn);
    form->addRow(QString(), m_bias);
    v->addWidget(m_stageForm);
    auto *toHead = new QPushButton(tr("Edit its auxiliary head \u2192"), page);
    toHead->setObjectName(QStringLiteral("editHead"));
    toHead->setFlat(true);
    connect(toHead, &QPushButton::clicked, this, [this] { emit headRequested(m_index); });
    v->addWidget(toHead, 0, Qt::AlignLeft);
    v->addStretch(1);

    connect(m_downsample, &QComboBox::currentIndexChanged, this, [this] {
        m_stage.downsample = Downsample(m_downsample->currentData().toInt());
        emitStage(QStringLiteral("downsample"));
    });
    connect(m_width, &QSpinBox::valueChanged, this, [this](int v) {
        m_stage.width = v;
        emitStage(QStringLiteral("width"));
    });
    connect(m_kernel, &QSpinBox::valueChanged, this, [this](int v) {
        m_stage.kernel = v;
        emitStage(QStringLiteral("kernel"));
    });
    connect(m_bn, &QCheckBox::toggled, this, [this](bool on) {
        m_stage.bn = on;
        m_stage.bias = !on; // the spec's default when bias is absent
        setSilently(m_bias, m_stage.bias);
        emitStage(QStringLiteral("bn"));
    });
    connect(m_bias, &QCheckBox::toggled, this, [this](bool on) {
        m_stage.bias = on;
        emitStage(QStringLiteral("bias"));
    });
    return page;
}

QWidget *StageInspector::buildHeadPage()
{
    auto *page = new QWidget;
    auto *v = new QVBoxLayout(page);
    v->setContentsMargins(0, 0, 0, 0);
    m_headTitle = makeTitle(page);
    v->addWidget(m_headTitle);
    m_headLock = makeLockNote(page);
    v->addWidget(m_headLock);
    m_headForm = new QWidget(page);
    QFormLayout *form = makeForm(m_headForm);
    m_headKind = makeCombo(QStringLiteral("headKind"),
                           {{tr("conv (the paper's)"), int(HeadKind::Conv)},
                            {tr("MLP (VGG's classifier)"), int(HeadKind::Mlp)}});
    m_headK = makeSpin(QStringLiteral("headK"), 1, 3);
    m_headK->setToolTip(tr("Hidden layers of the auxiliary problem, counting the block"));
    m_headWidth = makeSpin(QStringLiteral("headWidth"), 1, 65536);
    m_headWidth->setToolTip(tr("M\u0303: width of the hidden convs (conv) or hidden units (MLP)"));
    m_headPooled = makeSpin(QStringLiteral("headPooled"), 1, 16384);
    m_headPooled->setToolTip(tr("Side after pooling (2: 2\u00d72; VGG's classifier: 7); at most "
                                "the stage's output side"));
    m_headPool
        = makeCombo(QStringLiteral("headPool"), {{tr("fixed (reference)"), int(HeadPool::Fixed)},
                                                 {tr("adaptive"), int(HeadPool::Adaptive)}});
    m_headPool->setToolTip(tr("Fixed: AvgPool with kernel = stride = side / pooled (drops the "
                              "last row and column at odd sides). Adaptive: adaptive pooling."));
    m_headPadding = makeSpin(QStringLiteral("headPadding"), 0, 1);
    m_headBn = makeCheck(QStringLiteral("headBn"), tr("BatchNorm in the head"));
    m_headDropout = new QDoubleSpinBox;
    m_headDropout->setObjectName(QStringLiteral("headDropout"));
    m_headDropout->setRange(0.0, 0.99);
    m_headDropout->setSingleStep(0.05);
    m_headDropout->setDecimals(2);
    m_headMaxpoolFirst
        = makeCheck(QStringLiteral("headMaxpoolFirst"), tr("2\u00d72 max-pool before the head"));
    form->addRow(tr("Kind"), m_headKind);
    form->addRow(tr("k"), spinRow(m_headK));
    form->addRow(tr("Width M\u0303"), spinRow(m_headWidth));
    form->addRow(tr("Pooled side"), spinRow(m_headPooled));
    form->addRow(tr("Pooling"), m_headPool);
    form->addRow(tr("Conv padding"), spinRow(m_headPadding));
    form->addRow(tr("Dropout"), withRange(m_headDropout, QStringLiteral("0 \u2013 0.99")));
    form->addRow(QString(), m_headBn);
    form->addRow(QString(), m_headMaxpoolFirst);
    v->addWidget(m_headForm);
    auto *toBlock = new QPushButton(tr("\u2190 Edit the stage's block"), page);
    toBlock->setObjectName(QStringLiteral("editBlock"));
    toBlock->setFlat(true);
    connect(toBlock, &QPushButton::clicked, this, [this] { emit blockRequested(m_index); });
    v->addWidget(toBlock, 0, Qt::AlignLeft);
    v->addStretch(1);

    connect(m_headKind, &QComboBox::currentIndexChanged, this, [this] {
        m_stage.head.kind = HeadKind(m_headKind->currentData().toInt());
        updateHeadEnabled();
        emitStage(QStringLiteral("head.kind"));
    });
    connect(m_headK, &QSpinBox::valueChanged, this, [this](int v) {
        m_stage.head.k = v;
        updateHeadEnabled();
        emitStage(QStringLiteral("head.k"));
    });
    connect(m_headWidth, &QSpinBox::valueChanged, this, [this](int v) {
        m_stage.head.width = v;
        emitStage(QStringLiteral("head.width"));
    });
    connect(m_headPooled, &QSpinBox::valueChanged, this, [this](int v) {
        m_stage.head.pooled = v;
        emitStage(QStringLiteral("head.pooled"));
    });
    connect(m_headPool, &QComboBox::currentIndexChanged, this, [this] {
        m_stage.head.pool = HeadPool(m_headPool->currentData().toInt());
        emitStage(QStringLiteral("head.pool"));
    });
    connect(m_headPadding, &QSpinBox::valueChanged, this, [this](int v) {
        m_stage.head.padding = v;
        emitStage(QStringLiteral("head.padding"));
    });
    connect(m_headBn, &QCheckBox::toggled, this, [this](bool on) {
        m_stage.head.bn = on;
        emitStage(QStringLiteral("head.bn"));
    });
    connect(m_headDropout, &QDoubleSpinBox::valueChanged, this, [this](double v) {
        m_stage.head.dropout = v;
        emitStage(QStringLiteral("head.dropout"));
    });
    connect(m_headMaxpoolFirst, &QCheckBox::toggled, this, [this](bool on) {
        m_stage.head.maxpoolFirst = on;
        emitStage(QStringLiteral("head.maxpoolFirst"));
    });
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
    setSilently(m_inChannels, input.channels);
    setSilently(m_inHeight, input.height);
    setSilently(m_inWidth, input.width);
    setSilently(m_inClasses, input.classes);
    setSilently(m_inDownsample, int(input.downsample));
    m_inputForm->setEnabled(!locked);
    m_inputLock->setVisible(locked);
    m_pages->setCurrentIndex(1);
}

void StageInspector::showStage(int index, const StageSpec &stage, bool locked)
{
    m_index = index;
    m_stage = stage;
    m_stageTitle->setText(tr("Stage %1").arg(index + 1));
    setSilently(m_downsample, int(stage.downsample));
    setSilently(m_width, stage.width);
    setSilently(m_kernel, stage.kernel);
    setSilently(m_bn, stage.bn);
    setSilently(m_bias, stage.bias);
    m_stageForm->setEnabled(!locked);
    m_stageLock->setVisible(locked);
    m_pages->setCurrentIndex(2);
}

void StageInspector::showHead(int index, const StageSpec &stage, bool locked)
{
    m_index = index;
    m_stage = stage;
    const HeadSpec &h = stage.head;
    m_headTitle->setText(tr("Auxiliary head of stage %1").arg(index + 1));
    setSilently(m_headKind, int(h.kind));
    setSilently(m_headK, h.k);
    setSilently(m_headWidth, h.width);
    setSilently(m_headPooled, h.pooled);
    setSilently(m_headPool, int(h.pool));
    setSilently(m_headPadding, h.padding);
    setSilently(m_headBn, h.bn);
    setSilently(m_headDropout, h.dropout);
    setSilently(m_headMaxpoolFirst, h.maxpoolFirst);
    updateHeadEnabled();
    m_headForm->setEnabled(!locked);
    m_headLock->setVisible(locked);
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
