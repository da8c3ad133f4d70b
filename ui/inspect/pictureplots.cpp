#include "ui/inspect/pictureplots.h"

#include "core/inspect/render.h"
#include "core/inspect/report.h"
#include "ui/common/format.h"

#include <qcustomplot.h>

#include <QHBoxLayout>
#include <QMouseEvent>
#include <QPainter>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <functional>

namespace lw {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

QColor classQColor(int c, int classes)
{
    std::uint8_t rgb[3];
    classColour(c, classes, rgb);
    return QColor(rgb[0], rgb[1], rgb[2]);
}

/// Removes everything a previous drawing left (graphs, items, colour maps and scales, titles).
void reset(QCustomPlot *plot, const QString &title)
{
    plot->clearPlottables();
    plot->clearItems();
    plot->legend->setVisible(false);
    for (auto *e : plot->plotLayout()->elements(false))
        if (qobject_cast<QCPColorScale *>(e) || qobject_cast<QCPTextElement *>(e))
            plot->plotLayout()->remove(e);
    plot->plotLayout()->simplify();
    for (auto *axis : {plot->xAxis, plot->yAxis}) {
        axis->setVisible(true);
        axis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        axis->setRangeReversed(false);
        axis->setLabel({});
        axis->grid()->setVisible(true);
    }
    plot->setInteractions(QCP::Interactions());
    if (!title.isEmpty()) {
        plot->plotLayout()->insertRow(0);
        plot->plotLayout()->addElement(
            0, 0, new QCPTextElement(plot, title, QFont("sans", 10, QFont::Bold)));
    }
}

/// Class names as tick labels at 0..n-1.
QSharedPointer<QCPAxisTickerText> classTicker(const std::vector<std::string> &names, int n,
                                              const std::vector<double> &accuracy = {})
{
    QSharedPointer<QCPAxisTickerText> t(new QCPAxisTickerText);
    for (int c = 0; c < n; ++c) {
        QString label = q(className(names, c));
        if (std::size_t(c) < accuracy.size() && !std::isnan(accuracy[std::size_t(c)]))
            label += QStringLiteral(" (%1)").arg(percentText(accuracy[std::size_t(c)]));
        t->addTick(c, label);
    }
    return t;
}

/// A matrix heatmap with a label per cell; `value(t, p)` in the gradient's range.
void drawMatrix(QCustomPlot *plot, int n, const std::vector<std::string> &names,
                const std::vector<double> &rowAccuracy, const QCPColorGradient &gradient,
                const QCPRange &range, bool darkLow, const std::function<double(int, int)> &value,
                const std::function<QString(int, int)> &label, const QString &scaleLabel)
{
    auto *map = new QCPColorMap(plot->xAxis, plot->yAxis);
    map->data()->setSize(n, n);
    map->data()->setRange(QCPRange(0, n - 1), QCPRange(0, n - 1));
    for (int t = 0; t < n; ++t)
        for (int p = 0; p < n; ++p)
            map->data()->setCell(p, t, value(t, p));
    // The scale first: a colour map takes its scale's gradient and range when it is attached
    // (regression: attached last, the matrix was drawn in the scale's default blues, 0..6).
    auto *scale = new QCPColorScale(plot);
    scale->setLabel(scaleLabel);
    plot->plotLayout()->addElement(plot->plotLayout()->rowCount() - 1, 1, scale);
    map->setColorScale(scale);
    map->setGradient(gradient);
    map->setDataRange(range);
    map->setInterpolate(false);
    plot->xAxis->setTicker(classTicker(names, n));
    plot->xAxis->setTickLabelRotation(n > 6 ? 45 : 0);
    plot->yAxis->setTicker(classTicker(names, n, rowAccuracy));
    plot->yAxis->setRangeReversed(true); // true class 0 on top, as a table reads
    plot->xAxis->setLabel(QObject::tr("predicted class"));
    plot->yAxis->setLabel(QObject::tr("true class (accuracy)"));
    plot->xAxis->setRange(-0.5, n - 0.5);
    plot->yAxis->setRange(-0.5, n - 0.5);
    plot->xAxis->grid()->setVisible(false);
    plot->yAxis->grid()->setVisible(false);
    if (n <= 20) {
        QFont font("sans", n > 12 ? 6 : 8);
        for (int t = 0; t < n; ++t)
            for (int p = 0; p < n; ++p) {
                auto *text = new QCPItemText(plot);
                text->position->setCoords(p, t);
                text->setText(label(t, p));
                text->setFont(font);
                const double v = (value(t, p) - range.lower) / std::max(range.size(), 1e-12);
                // Viridis is dark at its low end; the diverging map is light in the middle.
                text->setColor(darkLow && v < 0.45 ? Qt::white : Qt::black);
            }
    }
}

QCPColorGradient viridis()
{
    QCPColorGradient g;
    g.setColorStopAt(0.0, QColor(68, 1, 84));
    g.setColorStopAt(0.25, QColor(59, 82, 139));
    g.setColorStopAt(0.5, QColor(33, 145, 140));
    g.setColorStopAt(0.75, QColor(94, 201, 98));
    g.setColorStopAt(1.0, QColor(253, 231, 37));
    return g;
}

double rowShare(const ConfusionMatrix &m, int t, int p)
{
    std::int64_t row = 0;
    for (int k = 0; k < m.classes; ++k)
        row += m.at(t, k);
    return row > 0 ? double(m.at(t, p)) / double(row) : 0.0;
}

QImage toQImage(const RgbImage &img)
{
    return QImage(img.pixels.data(), img.width, img.height, img.width * 3, QImage::Format_RGB888)
        .copy();
}

QImage tileImage(const ImageTiles &tiles, int i)
{
    ImageTiles one = tiles;
    one.count = 1;
    one.pixels.assign(tiles.tile(i), tiles.tile(i) + tiles.tileBytes());
    return toQImage(renderTiles(one, 1, 1))
        .copy(kPictureMargin, kPictureMargin, tiles.width, tiles.height);
}

} // namespace

void drawConfusion(QCustomPlot *plot, const ConfusionMatrix &m,
                   const std::vector<std::string> &names, const QString &title)
{
    reset(plot, title);
    if (m.empty()) {
        plot->replot();
        return;
    }
    drawMatrix(
        plot, m.classes, names, m.perClassAccuracy(), viridis(), QCPRange(0, 1), true,
        [&](int t, int p) { return rowShare(m, t, p); },
        [&](int t, int p) { return QString::number(m.at(t, p)); }, QObject::tr("share of row"));
    plot->replot();
}

void drawConfusionDifference(QCustomPlot *plot, const ConfusionMatrix &a, const ConfusionMatrix &b,
                             const std::vector<std::string> &names, const QString &title)
{
    reset(plot, title);
    if (a.empty() || b.empty() || a.classes != b.classes) {
        plot->replot();
        return;
    }
    QCPColorGradient diverging;
    diverging.setColorStopAt(0, QColor(178, 24, 43));
    diverging.setColorStopAt(0.5, QColor(247, 247, 247));
    diverging.setColorStopAt(1, QColor(33, 102, 172));
    const int n = a.classes;
    std::vector<double> diffAcc(static_cast<std::size_t>(n));
    const auto accA = a.perClassAccuracy(), accB = b.perClassAccuracy();
    for (int c = 0; c < n; ++c)
        diffAcc[std::size_t(c)] = accA[std::size_t(c)] - accB[std::size_t(c)];
    drawMatrix(
        plot, n, names, {}, diverging, QCPRange(-0.25, 0.25), false,
        [&](int t, int p) { return rowShare(a, t, p) - rowShare(b, t, p); },
        [&](int t, int p) {
            const double d = 100.0 * (rowShare(a, t, p) - rowShare(b, t, p));
            return std::abs(d) < 0.05 ? QStringLiteral("0") : QString::number(d, 'f', 1);
        },
        QObject::tr("left − right (points of the row)"));
    // The true classes with the accuracy difference in points.
    QSharedPointer<QCPAxisTickerText> t(new QCPAxisTickerText);
    for (int c = 0; c < n; ++c)
        t->addTick(c, QStringLiteral("%1 (%2%3)")
                          .arg(q(className(names, c)))
                          .arg(diffAcc[std::size_t(c)] >= 0 ? "+" : "")
                          .arg(100.0 * diffAcc[std::size_t(c)], 0, 'f', 1));
    plot->yAxis->setTicker(t);
    plot->yAxis->setLabel(QObject::tr("true class (accuracy, left − right)"));
    plot->replot();
}

void drawProjection(QCustomPlot *plot, const Projection &p, const std::vector<std::string> &names,
                    const QString &title)
{
    reset(plot, title);
    int classes = 0;
    for (int l : p.labels)
        classes = std::max(classes, l + 1);
    classes = std::max<int>(classes, int(names.size()));
    std::vector<QVector<double>> xs(static_cast<std::size_t>(classes)),
        ys(static_cast<std::size_t>(classes));
    for (std::size_t i = 0; i < p.size() && i < p.labels.size(); ++i) {
        const int c = p.labels[i];
        if (c < 0 || c >= classes)
            continue;
        xs[std::size_t(c)].push_back(p.x[i]);
        ys[std::size_t(c)].push_back(p.y[i]);
    }
    for (int c = 0; c < classes; ++c) {
        auto *g = plot->addGraph();
        g->setName(q(className(names, c)));
        g->setLineStyle(QCPGraph::lsNone);
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, classQColor(c, classes), 4));
        g->setData(xs[std::size_t(c)], ys[std::size_t(c)]); // sorts by x
    }
    plot->xAxis->setLabel(
        QObject::tr("PC 1 (%1 of the variance)").arg(percentText(p.explainedVariance[0])));
    plot->yAxis->setLabel(QObject::tr("PC 2 (%1)").arg(percentText(p.explainedVariance[1])));
    plot->legend->setVisible(classes > 0 && classes <= 20);
    plot->legend->setFont(QFont("sans", 7));
    plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot->rescaleAxes();
    plot->replot();
}

void drawImage(QCustomPlot *plot, const QImage &image, const QString &title)
{
    reset(plot, title);
    plot->xAxis->setVisible(false);
    plot->yAxis->setVisible(false);
    plot->xAxis->grid()->setVisible(false);
    plot->yAxis->grid()->setVisible(false);
    if (image.isNull()) {
        plot->replot();
        return;
    }
    auto *item = new QCPItemPixmap(plot);
    item->setPixmap(QPixmap::fromImage(image));
    item->setScaled(true, Qt::KeepAspectRatio, Qt::FastTransformation);
    item->topLeft->setType(QCPItemPosition::ptAxisRectRatio);
    item->bottomRight->setType(QCPItemPosition::ptAxisRectRatio);
    item->topLeft->setCoords(0, 0);
    item->bottomRight->setCoords(1, 1);
    plot->replot();
}

QImage featureMapsImage(const FeatureMaps &maps, const std::vector<std::string> &names)
{
    if (maps.inputs.empty())
        return {};
    const int scale = std::max(1, 64 / std::max(1, maps.inputs.height));
    const QImage grid = toQImage(renderFeatureMaps(maps, scale));
    const int labelWidth = 110;
    QImage out(grid.width() + labelWidth, grid.height(), QImage::Format_RGB888);
    out.fill(Qt::white);
    QPainter painter(&out);
    painter.drawImage(labelWidth, 0, grid);
    painter.setFont(QFont("sans", 9));
    const int rowH = (grid.height() - 2 * kPictureMargin + 2) / std::max(1, maps.inputs.count);
    for (int r = 0; r < maps.inputs.count; ++r) {
        const int label = std::size_t(r) < maps.labels.size() ? maps.labels[std::size_t(r)] : -1;
        painter.drawText(QRect(4, kPictureMargin + r * rowH, labelWidth - 8, rowH - 2),
                         Qt::AlignRight | Qt::AlignVCenter,
                         QStringLiteral("%1\n#%2")
                             .arg(q(className(names, label)))
                             .arg(maps.samples[std::size_t(r)]));
    }
    return out;
}

namespace {

/// The grid hardErrorsImage draws: 4 columns of cells, thumbnails scaled to about 72 pixels.
struct ErrorGrid
{
    int columns = 4, scale = 1, cellW = 0, cellH = 0;
    explicit ErrorGrid(const ImageTiles &t)
        : scale(std::max(1, 72 / std::max(1, t.height)))
        , cellW(std::max(t.width * scale, 150) + 12)
        , cellH(t.height * scale + 58)
    {}
};

} // namespace

int hardErrorAt(const HardErrors &errors, QPoint pos)
{
    const ErrorGrid g(errors.thumbnails);
    if (errors.thumbnails.empty() || pos.x() < 0 || pos.y() < 0 || pos.x() >= g.columns * g.cellW)
        return -1;
    const int i = (pos.y() / g.cellH) * g.columns + pos.x() / g.cellW;
    return i < errors.thumbnails.count && std::size_t(i) < errors.errors.size() ? i : -1;
}

QImage hardErrorsImage(const HardErrors &errors, const std::vector<std::string> &names)
{
    const auto &t = errors.thumbnails;
    if (t.empty())
        return {};
    const ErrorGrid g(t);
    const int columns = g.columns, scale = g.scale, cellW = g.cellW, cellH = g.cellH;
    const int rows = (t.count + columns - 1) / columns;
    QImage out(columns * cellW, rows * cellH, QImage::Format_RGB888);
    out.fill(Qt::white);
    QPainter painter(&out);
    painter.setFont(QFont("sans", 8));
    for (int i = 0; i < t.count; ++i) {
        const int x = (i % columns) * cellW + 6, y = (i / columns) * cellH + 4;
        const auto &e = errors.errors[std::size_t(i)];
        const QColor frame = e.fixedAtStage >= 0 ? QColor(44, 160, 44) : QColor(214, 39, 40);
        const QImage thumb = tileImage(t, i).scaled(t.width * scale, t.height * scale);
        painter.fillRect(x - 3, y - 3, thumb.width() + 6, thumb.height() + 6, frame);
        painter.drawImage(x, y, thumb);
        const QString fixed = e.fixedAtStage >= 0
                                  ? QObject::tr("fixed at stage %1").arg(e.fixedAtStage + 1)
                                  : QObject::tr("not fixed");
        painter.setPen(Qt::black);
        painter.drawText(
            QRect(x - 3, y + thumb.height() + 4, cellW - 8, 52), Qt::AlignLeft | Qt::AlignTop,
            QObject::tr("true: %1\npredicted: %2 (%3)\n%4 · #%5")
                .arg(q(className(names, e.trueClass)), q(className(names, e.predicted)),
                     percentText(e.confidence), fixed)
                .arg(e.sample));
    }
    return out;
}

QImage filtersImage(const FilterGrid &filters)
{
    if (filters.empty())
        return {};
    return toQImage(renderTiles(filters, 8, std::max(1, 48 / std::max(1, filters.height))));
}

QImage imageStagesImage(const ImageThroughStages &img)
{
    if (img.image.empty() || img.stages.empty())
        return {};
    const QImage grid = toQImage(renderImageThroughStages(img, scaleTo64(img.image.height)));
    const int labelWidth = 150;
    QImage out(grid.width() + labelWidth, grid.height(), QImage::Format_RGB888);
    out.fill(Qt::white);
    QPainter painter(&out);
    painter.drawImage(labelWidth, 0, grid);
    painter.setFont(QFont("sans", 9));
    const int rows = static_cast<int>(img.stages.size());
    const int rowH = (grid.height() - 2 * kPictureMargin + 2) / rows;
    for (int r = 0; r < rows; ++r) {
        const auto &st = img.stages[std::size_t(r)];
        QString text = QObject::tr("Stage %1").arg(st.stage + 1);
        if (st.predicted >= 0) {
            painter.setPen(st.predicted == img.trueClass ? QColor(30, 120, 30)
                                                         : QColor(190, 30, 30));
            text += QStringLiteral("\n%1 (%2)")
                        .arg(q(className(img.classNames, st.predicted)))
                        .arg(percentText(st.confidence));
        } else {
            painter.setPen(Qt::black);
            text += QObject::tr("\nno trained head");
        }
        painter.drawText(QRect(4, kPictureMargin + r * rowH, labelWidth - 8, rowH - 2),
                         Qt::AlignRight | Qt::AlignVCenter, text);
    }
    return out;
}

void StageCombo::setStages(const std::vector<int> &stages)
{
    const int keep = stage();
    QSignalBlocker block(this);
    QComboBox::clear();
    for (int s : stages)
        addItem(QString::number(s + 1), s);
    const int at = findData(keep);
    setCurrentIndex(at >= 0 ? at : count() - 1);
}

void StageCombo::setStage(int s)
{
    const int at = findData(s);
    if (at >= 0)
        setCurrentIndex(at);
}

int StageCombo::stage() const
{
    return currentIndex() >= 0 ? currentData().toInt() : -1;
}

PicturePlots::PicturePlots(QWidget *parent)
    : QTabWidget(parent)
{
    auto make = [this](const QString &name, const QString &title) {
        auto *plot = new QCustomPlot;
        plot->setObjectName(name);
        plot->setMinimumSize(280, 240);
        addTab(plot, title);
        return plot;
    };
    m_confusion = make(QStringLiteral("confusionPlot"), tr("Confusion"));
    m_projection = make(QStringLiteral("projectionPlot"), tr("Features (PCA)"));
    m_filters = make(QStringLiteral("filtersPlot"), tr("Filters"));
    // Feature maps: a row for picking a test image (filled by the panel) above the plot.
    m_mapsTab = new QWidget;
    m_maps = new QCustomPlot;
    m_maps->setObjectName(QStringLiteral("mapsPlot"));
    m_maps->setMinimumSize(280, 200);
    m_mapsBar = new QHBoxLayout;
    m_mapsBar->setContentsMargins(4, 2, 4, 0);
    auto *mapsLayout = new QVBoxLayout(m_mapsTab);
    mapsLayout->setContentsMargins(0, 0, 0, 0);
    mapsLayout->setSpacing(2);
    mapsLayout->addLayout(m_mapsBar);
    mapsLayout->addWidget(m_maps, 1);
    addTab(m_mapsTab, tr("Feature maps"));
    m_errors = make(QStringLiteral("errorsPlot"), tr("Hard errors"));
    m_errors->setToolTip(tr("Click an image to see its feature maps at every stage"));
    m_projection->setToolTip(tr("Click a point to see that test image's feature maps at every "
                                "stage"));
    for (auto *plot : {m_projection, m_errors}) {
        connect(plot, &QCustomPlot::mousePress, this,
                [this](QMouseEvent *e) { m_pressPos = e->pos(); });
        connect(plot, &QCustomPlot::mouseRelease, this, [this, plot](QMouseEvent *e) {
            if (e->button() == Qt::LeftButton && (e->pos() - m_pressPos).manhattanLength() <= 4)
                clicked(plot, e->pos());
        });
    }
}

void PicturePlots::clicked(QCustomPlot *plot, QPoint pos)
{
    if (!m_has)
        return;
    if (plot == m_errors) {
        if (m_errorsImageSize.isEmpty())
            return;
        // drawImage anchors the image, scaled with its aspect ratio kept, at the axis rect's
        // top left corner.
        const QRect rect = m_errors->axisRect()->rect();
        const QSize shown = m_errorsImageSize.scaled(rect.size(), Qt::KeepAspectRatio);
        if (shown.isEmpty())
            return;
        const QPoint at = pos - rect.topLeft();
        const QPoint inImage(at.x() * m_errorsImageSize.width() / shown.width(),
                             at.y() * m_errorsImageSize.height() / shown.height());
        const int i = hardErrorAt(m_pics.hardErrors, inImage);
        if (i >= 0)
            Q_EMIT sampleClicked(m_pics.hardErrors.errors[std::size_t(i)].sample);
        return;
    }
    // The PCA: the nearest point within 8 pixels.
    const auto &p = m_pics.projection;
    double best = 64.0;
    qint64 sample = -1;
    for (std::size_t i = 0; i < p.size() && i < p.samples.size(); ++i) {
        const double dx = m_projection->xAxis->coordToPixel(p.x[i]) - pos.x();
        const double dy = m_projection->yAxis->coordToPixel(p.y[i]) - pos.y();
        if (dx * dx + dy * dy <= best) {
            best = dx * dx + dy * dy;
            sample = p.samples[i];
        }
    }
    if (sample >= 0)
        Q_EMIT sampleClicked(sample);
}

void PicturePlots::setImageMaps(const ImageThroughStages &img)
{
    m_image = img;
    drawMaps();
}

void PicturePlots::clearImageMaps()
{
    m_image.reset();
    drawMaps();
}

void PicturePlots::drawMaps()
{
    if (m_image) {
        const auto &img = *m_image;
        drawImage(m_maps, imageStagesImage(img),
                  tr("Test image #%1 (%2): the %3 most active channels at each stage")
                      .arg(img.sample)
                      .arg(q(className(img.classNames, img.trueClass)))
                      .arg(img.stages.empty() ? 0 : img.stages.front().channels.size()));
        return;
    }
    if (!m_has) {
        drawImage(m_maps, {}, {});
        return;
    }
    drawImage(m_maps, featureMapsImage(m_pics.maps, m_pics.classNames),
              tr("Stage %1: the %2 most active channels per image (one per class)")
                  .arg(m_pics.stage + 1)
                  .arg(m_pics.maps.perSample));
}

void PicturePlots::clear()
{
    m_has = false;
    m_pics = {};
    m_errorsImageSize = {};
    for (auto *p : {m_confusion, m_projection, m_filters, m_errors}) {
        p->clearPlottables();
        p->clearItems();
        p->replot();
    }
    drawMaps(); // a picked image stays until the panel clears it
}

void PicturePlots::setPictures(const StagePictures &p, bool ensemble, const FilterGrid &filters)
{
    m_pics = p;
    m_ensemble = ensemble;
    m_has = true;
    const auto &names = p.classNames;
    const QString stage = tr("Stage %1").arg(p.stage + 1);
    const auto &m = ensemble ? p.ensemble : p.head;
    drawConfusion(m_confusion, m, names,
                  m.empty() ? tr("%1: no trained head").arg(stage)
                            : tr("%1 %2: %3 of %4 right (%5)")
                                  .arg(stage, ensemble ? tr("ensemble") : tr("head"))
                                  .arg(m.correct())
                                  .arg(m.total())
                                  .arg(percentText(m.accuracy())));
    QString probe = std::isnan(p.projection.probeAccuracy)
                        ? tr("no linear probe")
                        : tr("linear probe %1").arg(percentText(p.projection.probeAccuracy));
    drawProjection(
        m_projection, p.projection, names,
        tr("%1 features, %2 test images: %3 of the variance in 2-D, %4")
            .arg(stage)
            .arg(p.projection.size())
            .arg(percentText(p.projection.explainedVariance[0] + p.projection.explainedVariance[1]))
            .arg(probe));
    drawImage(m_filters, filtersImage(filters), tr("First-layer filters (%1)").arg(filters.count));
    drawMaps();
    const QImage errors = hardErrorsImage(p.hardErrors, names);
    m_errorsImageSize = errors.size();
    drawImage(m_errors, errors,
              tr("%1: the most confident errors of its head (click one for its feature maps)")
                  .arg(stage));
}

QCustomPlot *PicturePlots::currentPlot() const
{
    if (currentWidget() == m_mapsTab)
        return m_maps;
    return qobject_cast<QCustomPlot *>(currentWidget());
}

QString PicturePlots::currentCsv() const
{
    if (!m_has)
        return {};
    const auto *w = currentWidget();
    if (w == m_confusion)
        return q(confusionCsv(m_ensemble ? m_pics.ensemble : m_pics.head, m_pics.classNames));
    if (w == m_projection)
        return q(projectionCsv(m_pics.projection, m_pics.classNames));
    if (w == m_errors)
        return q(hardErrorsCsv(m_pics.hardErrors, m_pics.classNames));
    if (w == m_mapsTab && m_image)
        return q(imageJson(*m_image));
    return q(picturesJson(m_pics));
}

} // namespace lw
