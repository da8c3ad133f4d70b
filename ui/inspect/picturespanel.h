#pragma once

#include "core/events/pictures.h"

#include <QWidget>

#include <cstdint>
#include <map>
#include <memory>

class QComboBox;
class QLabel;
class QPushButton;
class QSpinBox;
template<typename T>
class QFutureWatcher;

namespace lw {

class PicturePlots;
class StageCombo;
class RunImages;
class RunStore;
class TrainSession;

/// A stage's pictures of one run, stage by stage: confusion (head or ensemble), the PCA of its
/// features with the probe's accuracy, the first layer's filters, feature maps and hard errors.
/// Fed live (addLivePictures, as each stage finishes) or read from the store for a stored run;
/// a run recorded before Layerwise drew pictures offers "Compute pictures", which runs core's
/// RunService::pictures off the GUI thread. Every picture exports as PNG/SVG/PDF and CSV.
/// The Feature maps tab shows one test image through every stage: picked by its number, or by
/// clicking a hard error or a point of the PCA; computed off the GUI thread from the run's
/// checkpoint (RunService::images, loaded once per run).
class PicturesPanel : public QWidget
{
    Q_OBJECT

public:
    /// `store` may be null; it must outlive the panel.
    explicit PicturesPanel(RunStore *store, QWidget *parent = nullptr);
    ~PicturesPanel() override;

    void setStore(RunStore *store);
    /// Shows stored run `runId` (-1: none) and reads its pictures.
    void showRun(qint64 runId);
    /// Starts showing run `runId` that is training now: its stages come by addLivePictures.
    void followRun(qint64 runId);
    /// A stage's pictures of the run shown, computed as it finished.
    void addLivePictures(const StagePictures &p);
    /// Follows the runs `session` trains (the Train view): a new run starts empty, a resumed
    /// one shows its stored pictures, and each stage's pictures arrive as it finishes.
    void followSession(TrainSession *session);
    /// Computes (again) the pictures of the run shown from its checkpoint (what "Compute
    /// pictures" does). False when nothing is shown or a computation is going.
    bool computePictures();
    bool isComputing() const;

    qint64 runId() const { return m_runId; }
    /// Stages with pictures, 0-based.
    QList<int> stages() const;
    /// Shows stage `stage` (0-based) when it has pictures.
    void setStage(int stage);
    int stage() const;

    StageCombo *stageCombo() const;
    QComboBox *sourceCombo() const { return m_sourceCombo; }
    QPushButton *computeButton() const { return m_computeButton; }
    QLabel *messageLabel() const { return m_message; }
    PicturePlots *plots() const { return m_plots; }

    /// Saves the current picture (PNG/SVG/PDF by suffix) / its numbers as CSV. False and
    /// `error` naming the file on failure.
    bool exportPicture(const QString &path, QString *error);
    bool exportCsv(const QString &path, QString *error);

    /// Shows test image `sample` of the run shown through every stage (the Feature maps tab),
    /// computed off the GUI thread; a request while one is computed replaces any waiting one.
    /// False when no run is shown.
    bool showImage(qint64 sample);
    /// Back to one test image per class.
    void showImagesPerClass();
    bool isComputingImage() const;
    QSpinBox *imageSpin() const { return m_imageSpin; }
    QPushButton *imageButton() const { return m_imageButton; }
    QLabel *imageThumb() const { return m_imageThumb; }

Q_SIGNALS:
    /// "Compute pictures" ended; `error` is empty when it succeeded.
    void computeFinished(qint64 runId, const QString &error);
    /// A test image asked with showImage is shown (`error` empty) or could not be computed.
    void imageShown(qint64 sample, const QString &error);

private:
    struct ImageJob;
    void startImage(qint64 sample);
    void imageFinished();
    void resetImages();
    void reload();
    void refreshStages();
    void redraw();
    void exportPictureInteractive();
    void exportCsvInteractive();

    RunStore *m_store = nullptr;
    qint64 m_runId = -1;
    std::map<int, StagePictures> m_pictures;
    FilterGrid m_filters;
    StageCombo *m_stageCombo = nullptr;
    QComboBox *m_sourceCombo = nullptr;
    QPushButton *m_computeButton = nullptr;
    QPushButton *m_exportButton = nullptr;
    QPushButton *m_csvButton = nullptr;
    QLabel *m_message = nullptr;
    PicturePlots *m_plots = nullptr;
    QFutureWatcher<QString> *m_watcher = nullptr;

    QSpinBox *m_imageSpin = nullptr;
    QPushButton *m_imageButton = nullptr;
    QPushButton *m_perClassButton = nullptr;
    QLabel *m_imageThumb = nullptr;
    QLabel *m_imageStatus = nullptr;
    /// The run's network for single images, loaded on the first request (shared with the job
    /// computing, which may outlive a change of run).
    std::shared_ptr<RunImages> m_images;
    QFutureWatcher<std::shared_ptr<ImageJob>> *m_imageWatcher = nullptr;
    qint64 m_pendingImage = -1;
    int m_imageGeneration = 0; ///< bumped when the run changes: older results are dropped
};

} // namespace lw
