#pragma once

#include "core/events/pictures.h"

#include <QList>
#include <QWidget>

#include <map>
#include <memory>

class QComboBox;
class QCustomPlot;
class QLabel;
class QStackedWidget;

namespace lw {

class PicturePlots;
class StageCombo;
class PicturesPanel;
class RunStore;

/// Two stored runs' pictures side by side, stage by stage (greedy against its end-to-end twin):
/// the same tab and stage on both sides, and the difference of their confusion matrices.
class PicturesCompare : public QWidget
{
    Q_OBJECT

public:
    explicit PicturesCompare(QWidget *parent = nullptr);

    /// Reads the pictures of runs `left` and `right` from `store` (null: none).
    void showRuns(RunStore *store, qint64 left, qint64 right);
    void setStage(int stage);
    int stage() const;

    StageCombo *stageCombo() const;
    PicturePlots *leftPlots() const { return m_left; }
    PicturePlots *rightPlots() const { return m_right; }
    QCustomPlot *differencePlot() const { return m_difference; }
    QLabel *messageLabel() const { return m_message; }

private:
    struct Side
    {
        qint64 id = -1;
        std::map<int, StagePictures> stages;
        FilterGrid filters;
        /// A stage's pictures, null when the run has none of that stage.
        const StagePictures *at(int stage) const;
    };
    void redraw();
    static Side read(RunStore *store, qint64 id);

    Side m_a, m_b;
    StageCombo *m_stageCombo = nullptr;
    QComboBox *m_sourceCombo = nullptr;
    QLabel *m_leftTitle = nullptr, *m_rightTitle = nullptr, *m_message = nullptr;
    PicturePlots *m_left = nullptr, *m_right = nullptr;
    QCustomPlot *m_difference = nullptr;
};

/// The Runs view's "Pictures" tab: one selected run's pictures (PicturesPanel, with "Compute
/// pictures" for a run recorded before them), two runs side by side (PicturesCompare), or a
/// hint for any other selection.
class RunPicturesView : public QWidget
{
    Q_OBJECT

public:
    explicit RunPicturesView(QWidget *parent = nullptr);
    void setStore(std::shared_ptr<RunStore> store);
    void setRuns(const QList<qint64> &ids);

    PicturesPanel *panel() const { return m_panel; }
    PicturesCompare *compare() const { return m_compare; }
    QStackedWidget *stack() const { return m_stack; }

private:
    std::shared_ptr<RunStore> m_store;
    QList<qint64> m_ids;
    QStackedWidget *m_stack = nullptr;
    QLabel *m_hint = nullptr;
    PicturesPanel *m_panel = nullptr;
    PicturesCompare *m_compare = nullptr;
};

} // namespace lw
