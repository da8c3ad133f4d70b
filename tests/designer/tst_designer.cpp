// The Design view: a 4-stage network built by simulated clicks, keys and drops must show the
// shapes and parameter counts of `layerwise-cli arch summary --json`; the validator's exact
// messages land on the right card; undo goes back; presets match METHOD.md.
#include "ui/common/format.h"
#include "ui/designer/blockpalette.h"
#include "ui/designer/costpanel.h"
#include "ui/designer/designview.h"
#include "ui/designer/recipepanel.h"
#include "ui/designer/stageinspector.h"
#include "ui/designer/trainingcost.h"

#include <QAbstractSpinBox>
#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QDragEnterEvent>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLayout>
#include <QMenu>
#include <QMimeData>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QUndoStack>
#include <QtTest>

#include <qcustomplot.h>

#include <functional>
#include <memory>
#include <set>

using namespace lw;

namespace {

const QString kTimes = QStringLiteral("\u00d7");

QString shapeText(int c, int h, int w)
{
    return QStringLiteral("out %1 %4 %2 %4 %3").arg(c).arg(h).arg(w).arg(kTimes);
}

/// The number a card's line starts with: "1,180,160 params ..." -> 1180160 (-1 if none).
qint64 leadingCount(const QString &text)
{
    const QRegularExpressionMatch m
        = QRegularExpression(QStringLiteral("^([0-9][0-9,]*) params")).match(text);
    if (!m.hasMatch())
        return -1;
    return m.captured(1).remove(QLatin1Char(',')).toLongLong();
}

void settle(QWidget *w)
{
    QCoreApplication::processEvents();
    if (w->layout())
        w->layout()->activate();
    QCoreApplication::processEvents();
}

/// Drags `mime` over `canvas` and drops it at `pos`, as a drag from the palette or a card
/// would. Returns whether the canvas accepted the drop.
bool dragAndDrop(StageCanvas *canvas, const QMimeData *mime, const QPoint &pos,
                 Qt::DropAction *action = nullptr)
{
    const Qt::DropActions actions = Qt::CopyAction | Qt::MoveAction;
    QDragEnterEvent enter(pos, actions, mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(canvas, &enter);
    if (!enter.isAccepted())
        return false;
    QDragMoveEvent move(pos, actions, mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(canvas, &move);
    if (!move.isAccepted())
        return false;
    QDropEvent drop(QPointF(pos), actions, mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(canvas, &drop);
    if (action)
        *action = drop.dropAction();
    return drop.isAccepted();
}

/// The palette's own drag payload for `block` (what QAbstractItemView::startDrag sends).
std::unique_ptr<QMimeData> paletteDrag(BlockPalette *palette, Block block)
{
    QListWidgetItem *item = palette->itemFor(block);
    if (!item)
        return nullptr;
    const QModelIndex index = palette->model()->index(palette->row(item), 0);
    return std::unique_ptr<QMimeData>(palette->model()->mimeData({index}));
}

void typeInto(QAbstractSpinBox *spin, const QString &text)
{
    spin->setFocus();
    spin->selectAll();
    QTest::keyClicks(spin, text);
    QTest::keyClick(spin, Qt::Key_Return);
}

template<typename T>
T *field(DesignView &view, const char *name)
{
    T *w = view.findChild<T *>(QLatin1String(name));
    if (!w)
        qFatal("no widget named %s", name);
    return w;
}

void clickCard(StageCard *card, StageCard::Part part = StageCard::Part::Block)
{
    const QPoint pos = part == StageCard::Part::Head ? card->headRect().center() : QPoint(16, 16);
    QTest::mouseClick(card, Qt::LeftButton, Qt::NoModifier, pos);
}

bool showActive(DesignView &view)
{
    view.resize(1500, 950);
    view.show();
    QApplication::setActiveWindow(&view);
    if (!QTest::qWaitForWindowActive(&view))
        return false;
    settle(view.canvas());
    return true;
}

} // namespace

class TestDesigner : public QObject
{
    Q_OBJECT

private slots:
    void buildByClicksAndDragsMatchesCli();
    void invalidEditShowsValidatorMessageAndUndoRestores();
    void presetTotals_data();
    void presetTotals();
    void greedyCostMatchesMethod_data();
    void greedyCostMatchesMethod();
    void lockedStages();
    void fileErrorsKeepTheDocument();
    void trainThisAndModifiedState();
    void spinBoxesStayWithinSpecLimits();
    void screenshot();
};

void TestDesigner::buildByClicksAndDragsMatchesCli()
{
    DesignView view;
    QVERIFY(showActive(view));
    StageCanvas *canvas = view.canvas();
    BlockPalette *palette = view.palette();
    QCOMPARE(canvas->cardCount(), 0);
    QVERIFY(!view.trainAction()->isEnabled());

    // Input: 3 x 32 x 32 through the inspector.
    clickCard(canvas->inputCard());
    QCOMPARE(view.selection().kind, DesignSelection::Kind::Input);
    typeInto(field<QSpinBox>(view, "inputChannels"), QStringLiteral("3"));
    typeInto(field<QSpinBox>(view, "inputHeight"), QStringLiteral("32"));
    typeInto(field<QSpinBox>(view, "inputWidth"), QStringLiteral("32"));
    QCOMPARE(view.spec().input.channels, 3);
    QCOMPARE(view.spec().input.height, 32);
    QCOMPARE(view.spec().input.width, 32);
    QCOMPARE(canvas->inputCard()->shapeText(), QStringLiteral("3 %1 32 %1 32").arg(kTimes));

    // Double-clicking a palette block appends it.
    QListWidgetItem *convItem = palette->itemFor(Block::ConvStage);
    QVERIFY(convItem);
    // A real double-click is press, release, double-click, release (QTest's sends only the
    // double-click event, which item views ignore without the press before it).
    const QPoint itemCenter = palette->visualItemRect(convItem).center();
    QTest::mouseClick(palette->viewport(), Qt::LeftButton, Qt::NoModifier, itemCenter);
    QTest::mouseDClick(palette->viewport(), Qt::LeftButton, Qt::NoModifier, itemCenter);
    QTest::mouseRelease(palette->viewport(), Qt::LeftButton, Qt::NoModifier, itemCenter);
    QCOMPARE(canvas->cardCount(), 1);
    QVERIFY(view.isValid());
    QVERIFY(view.trainAction()->isEnabled());

    // Drops insert where they land: psi after stage 0, avg-pool at the end, conv in between.
    settle(canvas);
    Qt::DropAction action = Qt::IgnoreAction;
    QVERIFY(dragAndDrop(canvas, paletteDrag(palette, Block::PsiStage).get(), canvas->gapCenter(1),
                        &action));
    QCOMPARE(action, Qt::CopyAction); // a Move would remove the palette's item
    settle(canvas);
    QVERIFY(
        dragAndDrop(canvas, paletteDrag(palette, Block::AvgPoolStage).get(), canvas->gapCenter(2)));
    settle(canvas);
    QVERIFY(
        dragAndDrop(canvas, paletteDrag(palette, Block::ConvStage).get(), canvas->gapCenter(1)));
    settle(canvas);
    QCOMPARE(canvas->cardCount(), 4);
    QVERIFY(palette->itemFor(Block::PsiStage)); // still in the palette
    // A head block dropped on stage 3 gives it a k = 2 head.
    QVERIFY(dragAndDrop(canvas, paletteDrag(palette, Block::HeadK2).get(),
                        canvas->card(3)->geometry().center()));
    settle(canvas);
    QCOMPARE(view.spec().stages[3].head.k, 2);
    QCOMPARE(view.selection().kind, DesignSelection::Kind::Head);

    const Spec built = view.spec();
    // Keyboard: Alt+Down moves stage 1 down, then dragging its card back restores the order.
    clickCard(canvas->card(1));
    QVERIFY(canvas->hasFocus());
    QTest::keyClick(canvas, Qt::Key_Down, Qt::AltModifier);
    QCOMPARE(view.spec().stages[1].downsample, Downsample::Psi);
    QCOMPARE(view.spec().stages[2].downsample, Downsample::None);
    QCOMPARE(view.selection().index, 2);
    settle(canvas);
    std::unique_ptr<QMimeData> moving(stageMimeData(2));
    QVERIFY(dragAndDrop(canvas, moving.get(), canvas->gapCenter(1), &action));
    QCOMPARE(action, Qt::MoveAction);
    QVERIFY(view.spec() == built);
    // Ctrl+D duplicates, Delete removes.
    clickCard(canvas->card(3));
    QTest::keyClick(canvas, Qt::Key_D, Qt::ControlModifier);
    QCOMPARE(canvas->cardCount(), 5);
    QCOMPARE(view.selection().index, 4);
    QTest::keyClick(canvas, Qt::Key_Delete);
    QCOMPARE(canvas->cardCount(), 4);
    QVERIFY(view.spec() == built);

    // Stage 0's width through the inspector.
    clickCard(canvas->card(0));
    QCOMPARE(view.selection().kind, DesignSelection::Kind::Stage);
    typeInto(field<QSpinBox>(view, "stageWidth"), QStringLiteral("32"));

    const Spec &spec = view.spec();
    QCOMPARE(int(spec.stages.size()), 4);
    const int widths[] = {32, 64, 128, 256};
    const Downsample downs[]
        = {Downsample::None, Downsample::None, Downsample::Psi, Downsample::AvgPool};
    const int ks[] = {1, 1, 1, 2};
    for (int i = 0; i < 4; ++i) {
        QCOMPARE(spec.stages[size_t(i)].width, widths[i]);
        QCOMPARE(spec.stages[size_t(i)].downsample, downs[i]);
        QCOMPARE(spec.stages[size_t(i)].head.k, ks[i]);
    }
    QVERIFY(view.isValid());
    QVERIFY(view.isModified());

    // Save and compare what the cards show with the CLI's summary of the saved file.
    const QString path = QStringLiteral(LW_TEST_BUILD_DIR "/designer_built.json");
    QVERIFY2(view.saveFile(path), qPrintable(view.errorString()));
    QVERIFY(!view.isModified());

    Result<Spec> reread = loadSpecFile(path.toStdString());
    QVERIFY2(reread.ok(), reread.ok() ? "" : reread.message().c_str());
    QVERIFY(reread.value() == spec);
    Result<SpecSummary> core = summarizeSpec(reread.value());
    QVERIFY(core.ok());

    QJsonObject cli;
    const QString cliPath = QStringLiteral(LW_CLI_PATH);
    if (QFileInfo(cliPath).isExecutable()) {
        QProcess process;
        process.start(cliPath, {QStringLiteral("arch"), QStringLiteral("summary"),
                                QStringLiteral("--spec"), path, QStringLiteral("--json")});
        QVERIFY(process.waitForFinished(60000));
        QVERIFY2(process.exitCode() == 0, process.readAllStandardError().constData());
        QJsonParseError error;
        cli = QJsonDocument::fromJson(process.readAllStandardOutput(), &error).object();
        QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(error.errorString()));
    } else {
        qWarning("layerwise-cli not built at %s: comparing with summarizeSpec only",
                 qPrintable(cliPath));
    }
    for (int i = 0; i < 4; ++i) {
        StageCard *card = canvas->card(i);
        const StageCost &c = core->stages[size_t(i)];
        QCOMPARE(card->shapeText(), shapeText(c.out.c, c.out.h, c.out.w));
        QCOMPARE(leadingCount(card->paramsText()), c.blockParams);
        QCOMPARE(leadingCount(card->headParamsText()), c.headParams);
        QVERIFY(!card->isMarkedInvalid());
        if (!cli.isEmpty()) {
            const QJsonObject st = cli.value(QStringLiteral("stages")).toArray().at(i).toObject();
            const QJsonArray out = st.value(QStringLiteral("out_shape")).toArray();
            QCOMPARE(card->shapeText(),
                     shapeText(out.at(0).toInt(), out.at(1).toInt(), out.at(2).toInt()));
            QCOMPARE(leadingCount(card->paramsText()),
                     st.value(QStringLiteral("block_params")).toInteger());
            QCOMPARE(leadingCount(card->headParamsText()),
                     st.value(QStringLiteral("head_params")).toInteger());
        }
    }
    // Known values of this network (by hand: conv weights + BN affine + linear).
    QCOMPARE(canvas->card(0)->shapeText(), shapeText(32, 32, 32));
    QCOMPARE(canvas->card(2)->shapeText(), shapeText(128, 16, 16));
    QCOMPARE(canvas->card(3)->shapeText(), shapeText(256, 8, 8));
    QCOMPARE(leadingCount(canvas->card(0)->paramsText()), 3 * 32 * 9 + 2 * 32);
    QCOMPARE(leadingCount(canvas->card(2)->paramsText()), 256 * 128 * 9 + 2 * 128);
    const qint64 total
        = cli.isEmpty() ? core->totalParams : cli.value(QStringLiteral("total_params")).toInteger();
    QCOMPARE(total, core->totalParams);
    QVERIFY2(view.costPanel()->totalsText().contains(groupedText(total)),
             qPrintable(view.costPanel()->totalsText()));
}

void TestDesigner::invalidEditShowsValidatorMessageAndUndoRestores()
{
    DesignView view;
    QVERIFY(showActive(view));
    QVERIFY2(view.loadPreset(QStringLiteral("cifar10-k2")), qPrintable(view.errorString()));
    const Spec original = view.spec();
    StageCanvas *canvas = view.canvas();
    settle(canvas);
    QSignalSpy validity(&view, &DesignView::validityChanged);
    QVERIFY(view.trainAction()->isEnabled());

    // psi on an odd side: a 31-pixel-high input reaches stage 2's psi at 31 x 32.
    clickCard(canvas->inputCard());
    typeInto(field<QSpinBox>(view, "inputHeight"), QStringLiteral("31"));
    QCOMPARE(view.spec().input.height, 31);
    std::vector<SpecIssue> issues = validateSpec(view.spec());
    QCOMPARE(int(issues.size()), 1);
    QCOMPARE(issues[0].stage, 2);
    QVERIFY(QString::fromStdString(issues[0].message)
                .contains(QStringLiteral("psi needs an even height and width")));
    QVERIFY(canvas->card(2)->isMarkedInvalid());
    QCOMPARE(canvas->card(2)->errorText(), QString::fromStdString(issues[0].toString()));
    QVERIFY(!canvas->card(1)->isMarkedInvalid());
    QCOMPARE(canvas->card(1)->shapeText(), shapeText(128, 31, 32)); // shapes before it stay
    QVERIFY(!view.isValid());
    QVERIFY(!view.trainAction()->isEnabled());
    QCOMPARE(validity.count(), 1);
    QCOMPARE(validity.last().at(0).toBool(), false);

    // Ctrl+Z (the stage list has focus) undoes the whole typed edit.
    clickCard(canvas->card(0));
    QTest::keyClick(canvas, Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(view.spec().input.height, 32);
    QVERIFY(view.isValid());
    QVERIFY(view.trainAction()->isEnabled());
    QCOMPARE(validity.last().at(0).toBool(), true);
    QVERIFY(!canvas->card(2)->isMarkedInvalid());
    // Ctrl+Shift+Z redoes it.
    QTest::keyClick(canvas, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
    QCOMPARE(view.spec().input.height, 31);
    view.undoAction()->trigger();

    // A head pooled larger than its input: stage 3's head sees 16 x 16.
    clickCard(canvas->card(3), StageCard::Part::Head);
    QCOMPARE(view.selection().kind, DesignSelection::Kind::Head);
    typeInto(field<QSpinBox>(view, "headPooled"), QStringLiteral("20"));
    QCOMPARE(view.spec().stages[3].head.pooled, 20);
    issues = validateSpec(view.spec());
    QCOMPARE(int(issues.size()), 1);
    QCOMPARE(issues[0].stage, 3);
    QCOMPARE(QString::fromStdString(issues[0].path), QStringLiteral("stages[3].head.pooled"));
    QCOMPARE(canvas->card(3)->errorText(), QString::fromStdString(issues[0].toString()));
    QVERIFY(canvas->card(3)->errorText().contains(QStringLiteral("larger than")));
    QVERIFY(!view.trainAction()->isEnabled());

    // And a width typed into stage 1.
    clickCard(canvas->card(1));
    typeInto(field<QSpinBox>(view, "stageWidth"), QStringLiteral("96"));
    QCOMPARE(view.spec().stages[1].width, 96);

    // Undo everything: back to the preset, unmodified and trainable.
    QVERIFY(view.isModified());
    while (view.undoStack()->canUndo())
        view.undoAction()->trigger();
    QVERIFY(view.spec() == original);
    QVERIFY(!view.isModified());
    QVERIFY(view.isValid());
    QVERIFY(view.trainAction()->isEnabled());
    for (int i = 0; i < canvas->cardCount(); ++i)
        QVERIFY(!canvas->card(i)->isMarkedInvalid());
    QCOMPARE(view.inspector()->findChild<QSpinBox *>(QStringLiteral("stageWidth"))->value(), 128);
}

void TestDesigner::presetTotals_data()
{
    QTest::addColumn<QString>("preset");
    QTest::addColumn<qint64>("total");
    // METHOD.md: trunk + final head.
    QTest::newRow("cifar10-k1") << QStringLiteral("cifar10-k1") << qint64(33668106);
    QTest::newRow("cifar10-k2") << QStringLiteral("cifar10-k2") << qint64(2523018);
    QTest::newRow("cifar10-k3") << QStringLiteral("cifar10-k3") << qint64(3113354);
    QTest::newRow("imagenet-k1") << QStringLiteral("imagenet-k1") << qint64(606826728);
    QTest::newRow("imagenet-k2") << QStringLiteral("imagenet-k2") << qint64(91477992);
    QTest::newRow("imagenet-k3") << QStringLiteral("imagenet-k3") << qint64(242481128);
    QTest::newRow("vgg11-greedy") << QStringLiteral("vgg11-greedy") << qint64(132868840);
}

void TestDesigner::presetTotals()
{
    QFETCH(QString, preset);
    QFETCH(qint64, total);
    DesignView view;
    QAction *action = nullptr;
    for (QAction *a : view.presetsMenu()->actions()) {
        if (a->data().toString() == preset) {
            action = a;
            // The entry shows what the preset is, not only its name.
            QVERIFY2(a->text().startsWith(preset + QStringLiteral(" \u2014 ")),
                     qPrintable(a->text()));
            QVERIFY(!a->toolTip().isEmpty());
        }
    }
    QVERIFY2(action, "preset missing from the Presets menu");
    action->trigger();
    QCOMPARE(view.documentTitle(), preset);
    QVERIFY(view.isValid());
    QVERIFY(!view.isModified());
    QVERIFY(view.summary().has_value());
    QCOMPARE(qint64(view.summary()->totalParams), total);
    QVERIFY2(view.costPanel()->totalsText().contains(groupedText(total)),
             qPrintable(view.costPanel()->totalsText()));
    // The cards add up to the same total: blocks + the last head.
    qint64 sum = 0;
    StageCanvas *canvas = view.canvas();
    for (int i = 0; i < canvas->cardCount(); ++i)
        sum += leadingCount(canvas->card(i)->paramsText());
    sum += leadingCount(canvas->card(canvas->cardCount() - 1)->headParamsText());
    QCOMPARE(sum, total);
}

void TestDesigner::greedyCostMatchesMethod_data()
{
    QTest::addColumn<QString>("preset");
    QTest::addColumn<double>("e2eEpochs");
    // METHOD.md: about 75 / 93 / 111 end-to-end epochs of the final network, uncached.
    QTest::newRow("cifar10-k1") << QStringLiteral("cifar10-k1") << 75.0;
    QTest::newRow("cifar10-k2") << QStringLiteral("cifar10-k2") << 93.0;
    QTest::newRow("cifar10-k3") << QStringLiteral("cifar10-k3") << 111.0;
}

void TestDesigner::greedyCostMatchesMethod()
{
    QFETCH(QString, preset);
    QFETCH(double, e2eEpochs);
    DesignView view;
    QVERIFY(view.loadPreset(preset));
    const std::optional<TrainingCost> &cost = view.costPanel()->trainingCost();
    QVERIFY(cost.has_value());
    QVERIFY2(std::abs(cost->uncachedInE2eEpochs() - e2eEpochs) < 1.0,
             qPrintable(QString::number(cost->uncachedInE2eEpochs())));
    // The cache removes the prefix term: close to 50 epochs of training the block and head.
    QVERIFY(cost->cachedInE2eEpochs() < cost->uncachedInE2eEpochs());
    QVERIFY(cost->cachedInE2eEpochs() > 40.0);
    QCOMPARE(int(cost->stageEpochUncached.size()), view.canvas()->cardCount());
    const QString text = view.costPanel()->totalsText();
    QVERIFY2(text.contains(QString::number(cost->uncachedInE2eEpochs(), 'f', 1)), qPrintable(text));
}

void TestDesigner::lockedStages()
{
    DesignView view;
    QVERIFY(showActive(view));
    QVERIFY(view.loadPreset(QStringLiteral("cifar10-k2")));
    view.setLockedStages(2);
    QCOMPARE(view.lockedStages(), 2);
    StageCanvas *canvas = view.canvas();
    settle(canvas);
    QVERIFY(canvas->inputCard()->isLocked());
    QVERIFY(canvas->card(0)->isLocked());
    QVERIFY(canvas->card(1)->isLocked());
    QVERIFY(!canvas->card(2)->isLocked());

    clickCard(canvas->card(1));
    QVERIFY(!view.deleteAction()->isEnabled());
    QVERIFY(!view.moveDownAction()->isEnabled());
    QVERIFY(!field<QSpinBox>(view, "stageWidth")->isEnabled());
    QTest::keyClick(canvas, Qt::Key_Delete);
    QCOMPARE(canvas->cardCount(), 4);
    QVERIFY(!view.removeStage(0));
    QVERIFY(!view.moveStage(2, 1));
    QVERIFY(!view.insertBlock(Block::ConvStage, 1));
    QVERIFY(!view.insertBlock(Block::HeadK3, 1));
    // A drop above the locked stages lands right after them.
    std::unique_ptr<QMimeData> conv(blockMimeData(Block::ConvStage));
    QVERIFY(dragAndDrop(canvas, conv.get(), canvas->gapCenter(0)));
    QCOMPARE(canvas->cardCount(), 5);
    QCOMPARE(view.selection().index, 2);
    QCOMPARE(view.spec().stages[2].width, 128);
    // Unlocked stages stay editable.
    clickCard(canvas->card(3));
    QVERIFY(view.deleteAction()->isEnabled());
    QVERIFY(field<QSpinBox>(view, "stageWidth")->isEnabled());
    QVERIFY(view.removeStage(3));
    QCOMPARE(canvas->cardCount(), 4);
}

void TestDesigner::fileErrorsKeepTheDocument()
{
    DesignView view;
    QVERIFY(view.loadPreset(QStringLiteral("fmnist-k1")));
    const Spec before = view.spec();
    QTemporaryDir dir;
    QVERIFY(dir.isValid());

    const QString broken = dir.filePath(QStringLiteral("broken.json"));
    QFile f(broken);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("{\"format\": \"layerwise-spec\", \"version\": 1, \"stages\": [ {\"width\": ");
    f.close();
    QVERIFY(!view.openFile(broken));
    QVERIFY2(view.errorString().contains(QStringLiteral("broken.json")),
             qPrintable(view.errorString()));
    QVERIFY(view.spec() == before);
    QCOMPARE(view.documentTitle(), QStringLiteral("fmnist-k1"));

    QVERIFY(!view.openFile(dir.filePath(QStringLiteral("missing.json"))));
    QVERIFY(view.errorString().contains(QStringLiteral("missing.json")));
    QVERIFY(!view.loadPreset(QStringLiteral("no-such-preset")));
    QVERIFY(!view.errorString().isEmpty());
    QVERIFY(!view.saveFile(dir.filePath(QStringLiteral("no/such/folder/x.json"))));
    QVERIFY(!view.errorString().isEmpty());
    QVERIFY(view.spec() == before);

    // A saved file opens again as the same spec, titled by its file name.
    const QString good = dir.filePath(QStringLiteral("good.json"));
    QVERIFY(view.saveFile(good));
    view.setSpec(Spec{});
    QVERIFY(view.openFile(good));
    QVERIFY(view.spec() == before);
    QCOMPARE(view.documentTitle(), QStringLiteral("good.json"));
    QCOMPARE(view.filePath(), good);
}

void TestDesigner::trainThisAndModifiedState()
{
    DesignView view;
    QVERIFY(view.loadPreset(QStringLiteral("cifar10-k3")));
    QSignalSpy train(&view, &DesignView::trainRequested);
    QSignalSpy modified(&view, &DesignView::modifiedChanged);
    view.trainAction()->trigger();
    QCOMPARE(train.count(), 1);
    QVERIFY(train.at(0).at(0).value<Spec>() == view.spec());

    // A recipe edit marks the document modified (the title bar's [*]); undo clears it.
    QVERIFY(!view.isWindowModified());
    auto *epochs = view.recipePanel()->findChild<QSpinBox *>(QStringLiteral("epochsPerStage"));
    QVERIFY(epochs);
    epochs->setValue(10);
    QCOMPARE(view.spec().recipe.epochsPerStage, 10);
    QVERIFY(view.isModified());
    QVERIFY(view.isWindowModified());
    QCOMPARE(modified.count(), 1);
    QCOMPARE(view.costPanel()->trainingCost()->epochsPerStage, 10);
    view.undoAction()->trigger();
    QCOMPARE(view.spec().recipe.epochsPerStage, 50);
    QVERIFY(!view.isModified());
    QCOMPARE(modified.count(), 2);
    QCOMPARE(epochs->value(), 50);

    // Train is refused while invalid.
    Spec bad = view.spec();
    bad.stages[0].kernel = 4;
    view.editSpec(bad, QStringLiteral("even kernel"));
    QVERIFY(!view.isValid());
    QVERIFY(!view.trainAction()->isEnabled());
    view.trainAction()->trigger();
    QCOMPARE(train.count(), 1);
    QVERIFY(view.canvas()->card(0)->errorText().contains(QStringLiteral("stages[0].kernel")));
}

void TestDesigner::spinBoxesStayWithinSpecLimits()
{
    // Each bounded field's spin box ends where the validator's limit does (SpecLimits), and that
    // end is a value the validator accepts: the Design view cannot produce a number it refuses.
    DesignView view;
    QVERIFY2(view.loadPreset(QStringLiteral("cifar10-k2")), qPrintable(view.errorString()));
    struct Bound
    {
        const char *widget;
        double max;
        const char *path; // the validator's path of the field
        std::function<void(Spec &, double)> set;
    };
    const Bound bounds[] = {
        {"inputChannels", SpecLimits::maxChannels, "input.channels",
         [](Spec &s, double v) {
             s.input.channels = int(v);
         }},
        {"inputHeight", SpecLimits::maxSide, "input.height",
         [](Spec &s, double v) {
             s.input.height = int(v);
         }},
        {"inputWidth", SpecLimits::maxSide, "input.width",
         [](Spec &s, double v) {
             s.input.width = int(v);
         }},
        {"inputClasses", SpecLimits::maxClasses, "input.classes",
         [](Spec &s, double v) {
             s.input.classes = int(v);
         }},
        {"stageWidth", SpecLimits::maxWidth, "stages[0].width",
         [](Spec &s, double v) {
             s.stages[0].width = int(v);
         }},
        {"stageKernel", SpecLimits::maxKernel, "stages[0].kernel",
         [](Spec &s, double v) {
             s.stages[0].kernel = int(v);
         }},
        {"headK", SpecLimits::maxHeadK, "stages[0].head.k",
         [](Spec &s, double v) {
             s.stages[0].head.k = int(v);
         }},
        {"headWidth", SpecLimits::maxWidth, "stages[0].head.width",
         [](Spec &s, double v) {
             s.stages[0].head.width = int(v);
         }},
        {"epochsPerStage", SpecLimits::maxEpochs, "recipe.epochs_per_stage",
         [](Spec &s, double v) {
             s.recipe.epochsPerStage = int(v);
         }},
        {"batchSize", SpecLimits::maxBatch, "recipe.batch_size",
         [](Spec &s, double v) {
             s.recipe.batchSize = int(v);
         }},
        {"testBatchSize", SpecLimits::maxBatch, "recipe.test_batch_size",
         [](Spec &s, double v) {
             s.recipe.testBatchSize = int(v);
         }},
        {"lrInitial", SpecLimits::maxLr, "recipe.lr.initial",
         [](Spec &s, double v) {
             s.recipe.lr.initial = v;
         }},
        {"lrFactor", SpecLimits::maxLrFactor, "recipe.lr.factor",
         [](Spec &s, double v) {
             s.recipe.lr.factor = v;
         }},
        {"lrEvery", SpecLimits::maxEpochs, "recipe.lr.every",
         [](Spec &s, double v) {
             s.recipe.lr.every = int(v);
         }},
        {"weightDecay", SpecLimits::maxWeightDecay, "recipe.optimizer.weight_decay",
         [](Spec &s, double v) {
             s.recipe.optimizer.weightDecay = v;
         }},
        {"cropPadding", SpecLimits::maxAugmentPadding, "recipe.augment.padding",
         [](Spec &s, double v) {
             s.recipe.augment.padding = int(v);
         }},
        {"e2eEpochs", SpecLimits::maxEpochs, "recipe.e2e.epochs",
         [](Spec &s, double v) {
             s.recipe.e2e.epochs = int(v);
         }},
    };
    for (const Bound &b : bounds) {
        auto *w = view.findChild<QAbstractSpinBox *>(QLatin1String(b.widget));
        QVERIFY2(w, b.widget);
        double max = 0, min = 0;
        if (auto *i = qobject_cast<QSpinBox *>(w)) {
            max = i->maximum();
            min = i->minimum();
        } else if (auto *d = qobject_cast<QDoubleSpinBox *>(w)) {
            max = d->maximum();
            min = d->minimum();
        }
        QVERIFY2(max == b.max,
                 qPrintable(QString("%1: %2, SpecLimits %3").arg(b.widget).arg(max).arg(b.max)));
        for (const double v : {min, max}) {
            Spec s = view.spec();
            b.set(s, v);
            for (const SpecIssue &issue : validateSpec(s))
                QVERIFY2(issue.path != b.path,
                         qPrintable(QString("%1 = %2: %3")
                                        .arg(b.widget)
                                        .arg(v)
                                        .arg(QString::fromStdString(issue.toString()))));
        }
    }
}

void TestDesigner::screenshot()
{
    DesignView view;
    QVERIFY(view.loadPreset(QStringLiteral("cifar10-k2")));
    view.select({DesignSelection::Kind::Stage, 2});
    view.resize(1600, 1000);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    settle(view.canvas());
    const QImage image = view.grab().toImage();
    QVERIFY(!image.isNull());
    QCOMPARE(image.size(), QSize(1600, 1000));
    const QString path = QStringLiteral(LW_TEST_BUILD_DIR "/designer-cifar10-k2.png");
    QVERIFY(image.save(path));
    // Non-trivial: many distinct colours (text, cards, bars), not a blank or single-tone grab.
    std::set<QRgb> colours;
    for (int y = 0; y < image.height(); y += 3) {
        for (int x = 0; x < image.width(); x += 3)
            colours.insert(image.pixel(x, y));
    }
    QVERIFY2(colours.size() > 50, qPrintable(QString::number(colours.size())));
    // The cost chart drew the four stages' bars in its blue.
    const QImage chart = view.costPanel()->chart()->grab().toImage();
    int blue = 0;
    for (int y = 0; y < chart.height(); ++y) {
        for (int x = 0; x < chart.width(); ++x) {
            const QColor c = chart.pixelColor(x, y);
            blue += c.blue() > 180 && c.red() < 150 && c.green() < 200;
        }
    }
    QVERIFY2(blue > 200, qPrintable(QString::number(blue)));
}

QTEST_MAIN(TestDesigner)
#include "tst_designer.moc"
