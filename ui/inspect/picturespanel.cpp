#include "ui/inspect/picturespanel.h"

#include "core/run/runservice.h"
#include "core/store/runstore.h"
#include "core/train/trainer.h"
#include "ui/common/plotexport.h"
#include "ui/inspect/pictureplots.h"
#include "ui/train/trainsession.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <climits>

namespace lw {

/// One test image computed off the GUI thread, with the network it was computed with.
struct PicturesPanel::ImageJob
{
    std::shared_ptr<RunImages> images;
    ImageThroughStages image;
    QString error;
    qint64 sample = -1;
    int generation = 0;
};

PicturesPanel::PicturesPanel(RunStore *store, QWidget *parent)
    : QWidget(parent)
    , m_store(store)
{
    setObjectName(QStringLiteral("picturesPanel"));
    m_stageCombo = new StageCombo;
    m_stageCombo->setObjectName(QStringLiteral("picturesStage"));
    m_sourceCombo = new QComboBox;
    m_sourceCombo->addItems({tr("Stage head"), tr("Ensemble up to the stage")});
    m_computeButton = new QPushButton(tr("Compute pictures"));
    m_computeButton->setToolTip(
        tr("Compute this run's pictures from its checkpoint (on the test set) and store them"));
    m_exportButton = new QPushButton(tr("Export picture…"));
    m_csvButton = new QPushButton(tr("Export CSV…"));
    m_message = new QLabel;
    m_message->setWordWrap(true);
    m_plots = new PicturePlots;

    auto *row = new QHBoxLayout;
    row->addWidget(new QLabel(tr("Stage")));
    row->addWidget(m_stageCombo);
    row->addWidget(m_sourceCombo);
    row->addStretch(1);
    row->addWidget(m_computeButton);
    row->addWidget(m_exportButton);
    row->addWidget(m_csvButton);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(row);
    layout->addWidget(m_message);
    layout->addWidget(m_plots, 1);

    // Picking a test image for the Feature maps tab.
    m_imageSpin = new QSpinBox;
    m_imageSpin->setObjectName(QStringLiteral("picturesImage"));
    m_imageSpin->setRange(0, 0);
    m_imageSpin->setToolTip(tr("A test image by its number in the test set (0-based, as the "
                               "hard errors name them)"));
    m_imageButton = new QPushButton(tr("Show at every stage"));
    m_imageButton->setToolTip(
        tr("This test image's feature maps at every stage, from the run's checkpoint"));
    m_perClassButton = new QPushButton(tr("One image per class"));
    m_imageThumb = new QLabel;
    m_imageThumb->setFixedSize(32, 32);
    m_imageThumb->setScaledContents(true);
    m_imageStatus = new QLabel;
    m_imageStatus->setWordWrap(true);
    auto *bar = m_plots->mapsBar();
    bar->addWidget(new QLabel(tr("Test image")));
    bar->addWidget(m_imageSpin);
    bar->addWidget(m_imageButton);
    bar->addWidget(m_imageThumb);
    bar->addWidget(m_imageStatus, 1);
    bar->addWidget(m_perClassButton);

    connect(m_stageCombo, &QComboBox::currentIndexChanged, this, &PicturesPanel::redraw);
    connect(m_sourceCombo, &QComboBox::currentIndexChanged, this, &PicturesPanel::redraw);
    connect(m_computeButton, &QPushButton::clicked, this, [this] { computePictures(); });
    connect(m_exportButton, &QPushButton::clicked, this, &PicturesPanel::exportPictureInteractive);
    connect(m_csvButton, &QPushButton::clicked, this, &PicturesPanel::exportCsvInteractive);
    connect(m_imageButton, &QPushButton::clicked, this,
            [this] { showImage(m_imageSpin->value()); });
    connect(m_imageSpin, &QSpinBox::editingFinished, this, [this] {
        if (m_imageSpin->hasFocus())
            showImage(m_imageSpin->value());
    });
    connect(m_perClassButton, &QPushButton::clicked, this, &PicturesPanel::showImagesPerClass);
    connect(m_plots, &PicturePlots::sampleClicked, this, [this](qint64 sample) {
        if (showImage(sample))
            m_plots->setCurrentWidget(m_plots->mapsTab());
    });
    showRun(-1);
}

PicturesPanel::~PicturesPanel()
{
    if (m_watcher)
        m_watcher->waitForFinished();
    if (m_imageWatcher)
        m_imageWatcher->waitForFinished();
}

void PicturesPanel::setStore(RunStore *store)
{
    if (isComputing())
        m_watcher->waitForFinished();
    if (isComputingImage())
        m_imageWatcher->waitForFinished();
    resetImages();
    m_store = store;
    showRun(-1);
}

void PicturesPanel::showRun(qint64 runId)
{
    if (runId != m_runId)
        resetImages();
    m_runId = runId;
    reload();
}

void PicturesPanel::followRun(qint64 runId)
{
    resetImages();
    m_runId = runId;
    m_pictures.clear();
    m_filters = {};
    refreshStages();
}

void PicturesPanel::addLivePictures(const StagePictures &p)
{
    const bool atLast = m_stageCombo->currentIndex() == m_stageCombo->count() - 1;
    for (const auto &fix : p.fixes) {
        auto it = m_pictures.find(fix.stage);
        if (it == m_pictures.end())
            continue;
        for (auto &e : it->second.hardErrors.errors)
            if (e.sample == fix.sample)
                e.fixedAtStage = fix.fixedAtStage;
    }
    if (!p.filters.empty())
        m_filters = p.filters;
    m_pictures[p.stage] = p;
    m_images.reset(); // a network loaded earlier lacks this stage
    refreshStages();
    if (atLast) // follow the newest stage unless the user looks at an earlier one
        setStage(p.stage);
}

void PicturesPanel::followSession(TrainSession *session)
{
    connect(session, &TrainSession::runCreated, this, [this](qint64 id, bool resumed) {
        if (resumed)
            showRun(id);
        else
            followRun(id);
    });
    connect(session, &TrainSession::picturesReady, this, &PicturesPanel::addLivePictures);
}

void PicturesPanel::reload()
{
    m_pictures.clear();
    m_filters = {};
    if (m_store && m_runId > 0) {
        auto stages = m_store->pictureStages(m_runId);
        if (stages) {
            for (int s : *stages)
                if (auto p = m_store->pictures(m_runId, s)) {
                    if (!p->filters.empty())
                        m_filters = p->filters;
                    m_pictures[s] = std::move(*p);
                }
        }
    }
    refreshStages();
    setStage(m_pictures.empty() ? 0 : m_pictures.rbegin()->first);
}

void PicturesPanel::refreshStages()
{
    std::vector<int> stages;
    for (const auto &[s, p] : m_pictures)
        stages.push_back(s);
    m_stageCombo->setStages(stages);
    const bool has = !m_pictures.empty();
    // The test images the pictures name bound the number until the run's network is loaded.
    if (!m_images) {
        std::int64_t known = 0;
        for (const auto &[st, p] : m_pictures) {
            known = std::max(known, p.head.total());
            for (auto i : p.projection.samples)
                known = std::max(known, i + 1);
        }
        m_imageSpin->setMaximum(int(std::max<std::int64_t>(0, known - 1)));
    }
    m_imageSpin->setEnabled(m_runId > 0 && has);
    m_imageButton->setEnabled(m_runId > 0 && has);
    m_computeButton->setVisible(m_runId > 0 && !has);
    m_computeButton->setEnabled(!isComputing() && m_store && !m_store->readOnly());
    m_exportButton->setEnabled(has);
    m_csvButton->setEnabled(has);
    if (isComputing())
        m_message->setText(
            tr("Computing the pictures of run %1 from its checkpoint…").arg(m_runId));
    else if (m_runId <= 0)
        m_message->setText(tr("No run shown."));
    else if (!has)
        m_message->setText(tr("Run %1 has no pictures yet: they appear as each stage finishes, "
                              "and a run recorded before Layerwise drew them can compute them "
                              "from its checkpoint.")
                               .arg(m_runId));
    else
        m_message->clear();
    m_message->setVisible(!m_message->text().isEmpty());
    redraw();
}

void PicturesPanel::redraw()
{
    auto it = m_pictures.find(stage());
    if (it == m_pictures.end()) {
        m_plots->clear();
        return;
    }
    m_plots->setPictures(it->second, m_sourceCombo->currentIndex() == 1, m_filters);
}

QList<int> PicturesPanel::stages() const
{
    QList<int> out;
    for (const auto &[s, p] : m_pictures)
        out.push_back(s);
    return out;
}

StageCombo *PicturesPanel::stageCombo() const
{
    return m_stageCombo;
}

void PicturesPanel::setStage(int s)
{
    m_stageCombo->setStage(s);
}

int PicturesPanel::stage() const
{
    return m_stageCombo->stage();
}

bool PicturesPanel::isComputing() const
{
    return m_watcher && m_watcher->isRunning();
}

bool PicturesPanel::computePictures()
{
    if (!m_store || m_runId <= 0 || isComputing())
        return false;
    if (!m_watcher) {
        m_watcher = new QFutureWatcher<QString>(this);
        connect(m_watcher, &QFutureWatcher<QString>::finished, this, [this] {
            const QString error = m_watcher->result();
            reload();
            if (!error.isEmpty()) {
                m_message->setText(error);
                m_message->setVisible(true);
            }
            Q_EMIT computeFinished(m_runId, error);
        });
    }
    RunStore *store = m_store;
    const std::int64_t id = m_runId;
    m_watcher->setFuture(QtConcurrent::run([store, id]() -> QString {
        auto job = RunService(*store).pictures(id, ExecOptions{});
        if (!job)
            return QString::fromStdString(job.message());
        auto done = (*job)->execute();
        return done ? QString() : QString::fromStdString(done.message());
    }));
    refreshStages();
    return true;
}

bool PicturesPanel::exportPicture(const QString &path, QString *error)
{
    return exportPlot(m_plots->currentPlot(), path, error);
}

bool PicturesPanel::exportCsv(const QString &path, QString *error)
{
    return writeTextFile(path, m_plots->currentCsv(), error);
}

void PicturesPanel::exportPictureInteractive()
{
    const QString path
        = QFileDialog::getSaveFileName(this, tr("Export picture"), {}, plotExportFilter());
    QString error;
    if (!path.isEmpty() && !exportPicture(path, &error))
        QMessageBox::warning(this, tr("Export picture"), error);
}

void PicturesPanel::exportCsvInteractive()
{
    const QString path = QFileDialog::getSaveFileName(this, tr("Export numbers"), {},
                                                      tr("CSV (*.csv);;JSON (*.json)"));
    QString error;
    if (!path.isEmpty() && !exportCsv(path, &error))
        QMessageBox::warning(this, tr("Export numbers"), error);
}

void PicturesPanel::resetImages()
{
    ++m_imageGeneration;
    m_images.reset();
    m_pendingImage = -1;
    m_imageThumb->clear();
    m_imageStatus->clear();
    m_plots->clearImageMaps();
}

bool PicturesPanel::isComputingImage() const
{
    return m_imageWatcher && m_imageWatcher->isRunning();
}

bool PicturesPanel::showImage(qint64 sample)
{
    if (!m_store || m_runId <= 0 || sample < 0)
        return false;
    if (sample > m_imageSpin->maximum() && !m_images)
        m_imageSpin->setMaximum(int(std::min<qint64>(sample, INT_MAX)));
    m_imageSpin->setValue(int(std::min<qint64>(sample, INT_MAX)));
    if (isComputingImage()) {
        m_pendingImage = sample; // the latest wish only
        return true;
    }
    startImage(sample);
    return true;
}

void PicturesPanel::showImagesPerClass()
{
    m_pendingImage = -1;
    m_imageThumb->clear();
    m_imageStatus->clear();
    m_plots->clearImageMaps();
}

void PicturesPanel::startImage(qint64 sample)
{
    if (!m_imageWatcher) {
        m_imageWatcher = new QFutureWatcher<std::shared_ptr<ImageJob>>(this);
        connect(m_imageWatcher, &QFutureWatcher<std::shared_ptr<ImageJob>>::finished, this,
                &PicturesPanel::imageFinished);
    }
    m_imageStatus->setText(m_images ? tr("Computing test image %1…").arg(sample)
                                    : tr("Loading run %1's network from its checkpoint, then "
                                         "test image %2…")
                                          .arg(m_runId)
                                          .arg(sample));
    auto job = std::make_shared<ImageJob>();
    job->images = m_images;
    job->sample = sample;
    job->generation = m_imageGeneration;
    RunStore *store = m_store;
    const std::int64_t id = m_runId;
    m_imageWatcher->setFuture(QtConcurrent::run([store, id, job]() {
        if (!job->images) {
            auto opened = RunService(*store).images(id, ExecOptions{});
            if (!opened) {
                job->error = QString::fromStdString(opened.message());
                return job;
            }
            job->images = std::shared_ptr<RunImages>(std::move(*opened));
        }
        auto img = job->images->image(job->sample);
        if (img)
            job->image = std::move(*img);
        else
            job->error = QString::fromStdString(img.message());
        return job;
    }));
}

void PicturesPanel::imageFinished()
{
    const auto job = m_imageWatcher->result();
    if (job->generation == m_imageGeneration) {
        if (job->images && !m_images) {
            m_images = job->images;
            m_imageSpin->setMaximum(
                int(std::min<std::int64_t>(m_images->testImages() - 1, INT_MAX)));
        }
        if (job->error.isEmpty()) {
            const auto &t = job->image.image;
            m_imageThumb->setPixmap(QPixmap::fromImage(
                QImage(t.pixels.data(), t.width, t.height, t.width * t.channels,
                       t.channels == 3 ? QImage::Format_RGB888 : QImage::Format_Grayscale8)
                    .copy()));
            m_imageStatus->setText(
                tr("#%1 of %2 test images").arg(job->sample).arg(job->image.testImages));
            m_plots->setImageMaps(job->image);
        } else {
            m_imageStatus->setText(job->error);
        }
        Q_EMIT imageShown(job->sample, job->error);
    }
    if (m_pendingImage >= 0 && m_runId > 0) {
        const qint64 next = m_pendingImage;
        m_pendingImage = -1;
        startImage(next);
    }
}

} // namespace lw
