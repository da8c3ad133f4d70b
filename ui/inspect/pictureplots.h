#pragma once

#include "core/events/pictures.h"

#include <QComboBox>
#include <QImage>
#include <QString>
#include <QTabWidget>

#include <optional>
#include <string>
#include <vector>

class QCustomPlot;
class QHBoxLayout;

namespace lw {

// Drawing a stage's pictures (core/events/pictures.h) into QCustomPlots, so that every picture
// exports to PNG, SVG and PDF like the other plots (ui/common/plotexport.h).

/// Heatmap of the row-normalized confusion (row = true class), each cell labelled with its count,
/// the true classes' names with their accuracy on the left.
void drawConfusion(QCustomPlot *plot, const ConfusionMatrix &m,
                   const std::vector<std::string> &names, const QString &title);
/// Heatmap of the difference a - b of two runs' row-normalized confusions (blue: a higher, red:
/// b higher), cells labelled in percentage points. Both must have the same classes.
void drawConfusionDifference(QCustomPlot *plot, const ConfusionMatrix &a, const ConfusionMatrix &b,
                             const std::vector<std::string> &names, const QString &title);
/// Scatter of the projection, one graph (and legend entry) per class.
void drawProjection(QCustomPlot *plot, const Projection &p, const std::vector<std::string> &names,
                    const QString &title);
/// An image, scaled to fit with its aspect ratio kept, axes hidden.
void drawImage(QCustomPlot *plot, const QImage &image, const QString &title);

/// Feature maps: one row per test image (its class named on the left), its most active channels.
QImage featureMapsImage(const FeatureMaps &maps, const std::vector<std::string> &names);
/// Hard errors in a grid with true and predicted class, confidence and the stage that fixes it.
QImage hardErrorsImage(const HardErrors &errors, const std::vector<std::string> &names);
/// The first layer's filters in a grid.
QImage filtersImage(const FilterGrid &filters);
/// A picked test image through the stages: one row per stage (its number and the head's
/// prediction on the left, green when right, red when wrong), the image, then its maps.
QImage imageStagesImage(const ImageThroughStages &img);
/// Index of the hard error drawn at `pos` of hardErrorsImage(errors) (its pixels), or -1.
int hardErrorAt(const HardErrors &errors, QPoint pos);

/// The stages (0-based data, shown 1-based) that have pictures.
class StageCombo : public QComboBox
{
    Q_OBJECT

public:
    using QComboBox::QComboBox;
    /// Lists `stages`, keeping the stage shown when it is still there (else the last one),
    /// without emitting a change.
    void setStages(const std::vector<int> &stages);
    void setStage(int stage);
    /// The stage shown, -1 when none.
    int stage() const;
};

/// One stage's pictures in tabs: Confusion, Features (PCA), Filters, Feature maps, Hard errors.
/// Clicking a hard error or a point of the PCA asks for that test image (sampleClicked); the
/// Feature maps tab then shows it through every stage (setImageMaps) instead of one image per
/// class.
class PicturePlots : public QTabWidget
{
    Q_OBJECT

public:
    explicit PicturePlots(QWidget *parent = nullptr);

    /// Shows `p`; `ensemble` picks the ensemble's confusion instead of the head's. `filters` are
    /// the run's first-layer filters (stage 1's pictures hold them).
    void setPictures(const StagePictures &p, bool ensemble, const FilterGrid &filters);
    void clear();
    bool hasPictures() const { return m_has; }
    const StagePictures &pictures() const { return m_pics; }

    QCustomPlot *confusionPlot() const { return m_confusion; }
    QCustomPlot *projectionPlot() const { return m_projection; }
    QCustomPlot *filtersPlot() const { return m_filters; }
    QCustomPlot *mapsPlot() const { return m_maps; }
    QCustomPlot *errorsPlot() const { return m_errors; }
    QCustomPlot *currentPlot() const;
    /// The numbers behind the current tab as CSV (empty for the image tabs without numbers).
    QString currentCsv() const;

    /// The Feature maps tab's row above its plot, for the controls that pick a test image.
    QHBoxLayout *mapsBar() const { return m_mapsBar; }
    QWidget *mapsTab() const { return m_mapsTab; }
    /// Shows `img` through its stages in the Feature maps tab (until clearImageMaps).
    void setImageMaps(const ImageThroughStages &img);
    /// Back to one image per class.
    void clearImageMaps();
    /// The picked image shown, or null.
    const ImageThroughStages *imageMaps() const { return m_image ? &*m_image : nullptr; }

Q_SIGNALS:
    /// The user clicked test image `sample` (a hard error or a point of the PCA).
    void sampleClicked(qint64 sample);

private:
    void drawMaps();
    /// A click (press and release in the same place) at `pos` of `plot`.
    void clicked(QCustomPlot *plot, QPoint pos);

    QCustomPlot *m_confusion, *m_projection, *m_filters, *m_maps, *m_errors;
    QWidget *m_mapsTab = nullptr;
    QHBoxLayout *m_mapsBar = nullptr;
    StagePictures m_pics;
    std::optional<ImageThroughStages> m_image;
    QSize m_errorsImageSize;
    QPoint m_pressPos;
    bool m_ensemble = false;
    bool m_has = false;
};

} // namespace lw
