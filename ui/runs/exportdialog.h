#pragma once

// "Export Network…" of the Runs view: format, stage, heads and where to write, then core's
// exportNetwork (core/export/export.h) with a busy cursor (an export takes seconds).

#include "core/export/export.h"

#include <QDialog>

#include <cstdint>

class QComboBox;
class QLabel;
class QLineEdit;

namespace lw {

class RunStore;

class ExportDialog : public QDialog
{
    Q_OBJECT

public:
    /// `store` must outlive the dialog. `choices` are run `runId`'s (exportChoices); at least one
    /// stage must be finished.
    ExportDialog(RunStore &store, std::int64_t runId, const ExportChoices &choices,
                 QWidget *parent = nullptr);

    /// The options the fields give (out: the path field, as typed).
    ExportOptions options() const;
    void setOutput(const QString &path);
    /// The files the last successful export wrote.
    const std::vector<std::string> &written() const { return m_written; }

    /// Exports with the fields' options; on failure shows the error and stays open.
    void accept() override;

private:
    void browse();
    void formatChanged();

    RunStore &m_store;
    std::int64_t m_runId;
    QComboBox *m_format = nullptr;
    QComboBox *m_stage = nullptr;
    QComboBox *m_heads = nullptr;
    QLineEdit *m_path = nullptr;
    QLabel *m_pathLabel = nullptr;
    QLabel *m_error = nullptr;
    std::vector<std::string> m_written;
};

} // namespace lw
