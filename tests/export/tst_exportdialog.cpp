// The Runs view's "Export Network…" dialog (ui/runs/exportdialog): its choices follow the run
// (stages 1..N finished, heads), and Export writes through core's exportNetwork or shows why not.
#include "core/export/export.h"
#include "core/run/runservice.h"
#include "tests/support/support.h"
#include "ui/runs/exportdialog.h"

#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QTemporaryDir>
#include <QtTest>

using namespace lw;

class TestExportDialog : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void exportsTheChosenStageAndFormat()
    {
        test::TempStore store;
        QVERIFY(store.ok());
        NewRunRequest request;
        request.spec = test::tinySpec(1);
        request.exec.device = "cpu";
        auto job = RunService(*store).create(request);
        QVERIFY2(job, job ? "" : job.message().c_str());
        auto summary = (*job)->execute();
        QVERIFY(summary && summary->status == RunStatus::Finished);
        const auto id = (*job)->runId();
        auto choices = exportChoices(*store, id);
        QVERIFY(choices);

        ExportDialog dialog(*store, id, *choices);
        auto boxes = dialog.findChildren<QComboBox *>();
        QCOMPARE(boxes.size(), 3); // format, stage, heads
        QComboBox *format = boxes[0], *stage = boxes[1], *heads = boxes[2];
        QCOMPARE(stage->count(), 3);
        QCOMPARE(stage->currentText(), QStringLiteral("Stage 3 of 3")); // the last finished
        QVERIFY(heads->isEnabled());

        QTemporaryDir dir;
        format->setCurrentIndex(1); // ONNX
        QVERIFY(dialog.options().out.ends_with(".onnx"));
        stage->setCurrentIndex(1);
        heads->setCurrentIndex(1);
        dialog.setOutput(dir.filePath("net.onnx"));
        QCOMPARE(dialog.options().stage, 1);
        QCOMPARE(dialog.options().heads, ExportHeads::All);
        dialog.accept();
        QCOMPARE(dialog.result(), int(QDialog::Accepted));
        QCOMPARE(dialog.written(),
                 std::vector<std::string>{dir.filePath("net.onnx").toStdString()});
        QVERIFY(QFileInfo(dir.filePath("net.onnx")).size() > 1000);

        // A folder that cannot be written: the error is shown, the dialog stays open.
        ExportDialog again(*store, id, *choices);
        again.setOutput(dir.filePath("missing/folder/net.pt"));
        again.accept();
        QCOMPARE(again.result(), int(QDialog::Rejected));
        bool shown = false;
        for (auto *label : again.findChildren<QLabel *>())
            shown = shown || label->text().contains(QStringLiteral("missing/folder"));
        QVERIFY(shown);
    }
};

QTEST_MAIN(TestExportDialog)
#include "tst_exportdialog.moc"
