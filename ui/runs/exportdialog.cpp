#include "ui/runs/exportdialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>

namespace lw {

ExportDialog::ExportDialog(RunStore &store, std::int64_t runId, const ExportChoices &choices,
                           QWidget *parent)
    : QDialog(parent)
    , m_store(store)
    , m_runId(runId)
{
    setWindowTitle(tr("Export Network of Run %1").arg(runId));
    m_format = new QComboBox;
    m_format->addItem(tr("TorchScript archive (.pt)"), int(ExportFormat::TorchScript));
    m_format->addItem(tr("ONNX model (.onnx, opset 13)"), int(ExportFormat::Onnx));
    m_format->addItem(tr("PyTorch state dict + model.py (folder)"), int(ExportFormat::PyTorch));
    m_stage = new QComboBox;
    for (int s : choices.finished)
        m_stage->addItem(tr("Stage %1 of %2").arg(s + 1).arg(choices.stages), s);
    m_stage->setCurrentIndex(m_stage->count() - 1);
    m_stage->setToolTip(tr("The stage whose head ends the exported network"));
    m_heads = new QComboBox;
    m_heads->addItem(tr("The stage's head (logits)"), int(ExportHeads::Last));
    m_heads->addItem(tr("Every head up to it and their ensemble"), int(ExportHeads::All));
    if (!choices.allHeadsAllowed) {
        m_heads->setEnabled(false);
        m_heads->setToolTip(tr("An end-to-end run trains only its last head"));
    }
    m_path = new QLineEdit;
    auto *browseButton = new QPushButton(tr("Browse…"));
    auto *pathRow = new QHBoxLayout;
    pathRow->addWidget(m_path, 1);
    pathRow->addWidget(browseButton);
    m_error = new QLabel;
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #b00020"));
    m_error->hide();

    auto *form = new QFormLayout;
    form->addRow(tr("Format:"), m_format);
    form->addRow(tr("Stage:"), m_stage);
    form->addRow(tr("Outputs:"), m_heads);
    form->addRow(tr("File:"), pathRow);
    m_pathLabel = qobject_cast<QLabel *>(form->labelForField(pathRow));
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("Export"));
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_error);
    layout->addWidget(buttons);

    connect(buttons, &QDialogButtonBox::accepted, this, &ExportDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(browseButton, &QPushButton::clicked, this, &ExportDialog::browse);
    connect(m_format, &QComboBox::currentIndexChanged, this, &ExportDialog::formatChanged);
    formatChanged();
}

ExportOptions ExportDialog::options() const
{
    ExportOptions o;
    o.format = ExportFormat(m_format->currentData().toInt());
    o.heads = ExportHeads(m_heads->currentData().toInt());
    o.stage = m_stage->currentData().toInt();
    o.out = m_path->text().trimmed().toStdString();
    return o;
}

void ExportDialog::setOutput(const QString &path)
{
    m_path->setText(path);
}

void ExportDialog::formatChanged()
{
    const auto format = ExportFormat(m_format->currentData().toInt());
    const QString base = QDir::home().filePath(QStringLiteral("run-%1").arg(m_runId));
    QString path = m_path->text().trimmed();
    // Keep the folder and name the user chose; change what the format decides.
    QFileInfo info(path.isEmpty() ? base : path);
    const QString stem = info.dir().filePath(info.completeBaseName());
    switch (format) {
    case ExportFormat::TorchScript: path = stem + QStringLiteral(".pt"); break;
    case ExportFormat::Onnx: path = stem + QStringLiteral(".onnx"); break;
    case ExportFormat::PyTorch: path = stem; break;
    }
    m_path->setText(path);
    if (m_pathLabel)
        m_pathLabel->setText(format == ExportFormat::PyTorch ? tr("Folder:") : tr("File:"));
}

void ExportDialog::browse()
{
    const auto format = ExportFormat(m_format->currentData().toInt());
    const QString path
        = format == ExportFormat::PyTorch
              ? QFileDialog::getExistingDirectory(this, tr("Folder for weights.pt and model.py"),
                                                  m_path->text())
              : QFileDialog::getSaveFileName(this, tr("Export network"), m_path->text(),
                                             format == ExportFormat::Onnx
                                                 ? tr("ONNX model (*.onnx)")
                                                 : tr("TorchScript archive (*.pt)"));
    if (!path.isEmpty())
        m_path->setText(path);
}

void ExportDialog::accept()
{
    const ExportOptions o = options();
    if (o.out.empty()) {
        m_error->setText(tr("Choose where to write the export."));
        m_error->show();
        return;
    }
    QGuiApplication::setOverrideCursor(Qt::WaitCursor);
    auto result = exportNetwork(m_store, m_runId, o);
    QGuiApplication::restoreOverrideCursor();
    if (!result) {
        m_error->setText(QString::fromStdString(result.message()));
        m_error->show();
        return;
    }
    m_written = result->files;
    QDialog::accept();
}

} // namespace lw
