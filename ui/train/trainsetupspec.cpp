// What the Train view's setup form holds: the spec as it will train (the form applied over the
// spec taken, milestones fitted to changed epochs), a new spec taken as Train This does (keeping
// the user's data and recipe choices), the epoch fields and schedule of the chosen mode, and a
// stored run's settings shown read-only. The widgets are built in trainsetup.cpp.
#include "ui/train/trainsetup.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <QToolButton>

#include <cmath>

namespace lw {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

/// "0.05, divided by 5 after epochs 3 and 5" (milestone m: the LR drops from epoch m + 1 on).
QString scheduleText(const LrSchedule &lr, int epochs)
{
    const QString start = QString::number(lr.initial, 'g', 6);
    if (!lr.milestones.empty()) {
        QStringList at;
        for (int m : lr.milestones)
            at << QString::number(m);
        return (at.size() == 1
                    ? TrainSetup::tr("learning rate %1, divided by %2 after epoch %3 (of %4)")
                    : TrainSetup::tr("learning rate %1, divided by %2 after epochs %3 (of %4)"))
            .arg(start, QString::number(lr.factor, 'g', 4), at.join(TrainSetup::tr(", ")))
            .arg(epochs);
    }
    if (lr.every > 0 && lr.every < epochs)
        return TrainSetup::tr("learning rate %1, divided by %2 every %3 epochs (of %4)")
            .arg(start, QString::number(lr.factor, 'g', 4))
            .arg(lr.every)
            .arg(epochs);
    return TrainSetup::tr("learning rate %1, constant over the %2 epochs").arg(start).arg(epochs);
}

} // namespace

Spec TrainSetup::effectiveSpec() const
{
    return effectiveSpec(nullptr);
}

Spec TrainSetup::effectiveSpec(QString *note) const
{
    Spec s = m_spec;
    RecipeSpec &r = s.recipe;
    r.dataset.name = m_datasetCombo->currentData().toString().toStdString();
    const QString path = m_dataPath->text().trimmed();
    r.dataset.path
        = path.isEmpty() ? std::string() : QFileInfo(path).absoluteFilePath().toStdString();
    r.dataset.trainLimit = m_trainLimit->value();
    r.dataset.testLimit = m_testLimit->value();
    r.epochsPerStage = m_epochs->value();
    const bool e2e = mode() == TrainMode::EndToEnd;
    if (e2e) // what the field shows is what trains
        r.e2e.epochs = m_e2eEpochs->value();
    r.batchSize = m_batch->value();
    bool ok = false;
    const double lr = m_lr->text().trimmed().toDouble(&ok);
    if (ok && std::isfinite(lr) && lr > 0) {
        r.lr.initial = lr;
        r.e2e.lr.initial = lr;
    }
    r.augment.enabled = m_augment->isChecked();
    r.precision = m_precision->currentData().toString().toStdString();
    r.seed = static_cast<std::uint64_t>(m_seed->value());
    if (m_syncBn) // the Machine box exists
        r.syncBn = m_syncBn->isChecked();
    // Fewer epochs than the spec's: its milestones past the end cannot apply (the validator
    // refuses them); drop them and say so. The spec's own epochs are checked as they are.
    if (r.epochsPerStage != m_spec.recipe.epochsPerStage
        || (e2e && r.e2e.epochs != endToEndEpochs(m_spec))) {
        const std::string dropped = dropMilestonesPastEnd(s);
        if (note)
            *note = q(dropped);
    }
    return s;
}

void TrainSetup::takeSpec(const Spec &spec, const QString &name)
{
    // Three-way: the spec the form holds (before), the user's form (mine), the new spec (theirs).
    // A field the new spec leaves as it was keeps the user's value.
    const Spec before = m_spec;
    const Spec mine = effectiveSpec(nullptr);
    Spec form = spec;
    auto keep = [](auto &out, const auto &b, const auto &m, const auto &theirs) {
        if (theirs == b)
            out = m;
    };
    const RecipeSpec &b = before.recipe, &m = mine.recipe, &t = spec.recipe;
    RecipeSpec &f = form.recipe;
    if (t.dataset.name == b.dataset.name) { // another dataset brings its own folder and subset
        f.dataset.name = m.dataset.name;
        keep(f.dataset.path, b.dataset.path, m.dataset.path, t.dataset.path);
        keep(f.dataset.trainLimit, b.dataset.trainLimit, m.dataset.trainLimit,
             t.dataset.trainLimit);
        keep(f.dataset.testLimit, b.dataset.testLimit, m.dataset.testLimit, t.dataset.testLimit);
    }
    keep(f.epochsPerStage, b.epochsPerStage, m.epochsPerStage, t.epochsPerStage);
    if (endToEndEpochs(spec) == endToEndEpochs(before))
        f.e2e.epochs = endToEndEpochs(mine);
    keep(f.batchSize, b.batchSize, m.batchSize, t.batchSize);
    keep(f.lr.initial, b.lr.initial, m.lr.initial, t.lr.initial);
    keep(f.augment.enabled, b.augment.enabled, m.augment.enabled, t.augment.enabled);
    keep(f.precision, b.precision, m.precision, t.precision);
    keep(f.seed, b.seed, m.seed, t.seed);
    setSpec(spec, name);
    fillForm(form); // the form shows the merge; m_spec stays the new spec
    revalidate();
}

void TrainSetup::showRunSettings(std::int64_t runId, const QString &runName,
                                 const QString &specName, const Spec &spec, TrainMode mode,
                                 bool probes, std::int64_t parentRun, int lockedStages)
{
    setSpec(spec, specName);
    {
        const QSignalBlocker b1(m_modeCombo), b2(m_probes), b3(m_name);
        m_modeCombo->setCurrentIndex(m_modeCombo->findData(q(toString(mode))));
        m_probes->setChecked(probes);
        m_name->setText(runName);
    }
    m_branchParent = parentRun;
    m_branchStage = parentRun >= 0 ? lockedStages : 0;
    m_shownRun = runId;
    m_shownLabel->setText(tr("Run %1's settings, as it was made (read-only).").arg(runId));
    updateBranchUi();
    updateEditable();
    revalidate();
}

void TrainSetup::newRunFromShown()
{
    if (m_shownRun < 0)
        return;
    const std::int64_t was = m_shownRun;
    m_shownRun = -1;
    m_name->clear();
    updateEditable();
    revalidate();
    emit statusMessage(
        tr("Run %1's settings are yours to change: Start makes a new run.").arg(was));
}

void TrainSetup::updateEditable()
{
    const bool shown = m_shownRun >= 0;
    m_shownBox->setVisible(shown);
    m_newFromShown->setEnabled(shown && !m_running);
    m_form->setEnabled(!m_running && !shown);
    m_specCombo->setEnabled(!m_running && !shown);
    setFieldError(m_startHint, m_running ? QString() : m_startProblem);
}

void TrainSetup::updateEpochRows(TrainMode mode, const Spec &effective, const QString &note)
{
    // End-to-end trains recipe.e2e's epochs with recipe.e2e.lr; greedy and DGL the per-stage
    // ones with recipe.lr. Only the fields that train are shown.
    const bool e2e = mode == TrainMode::EndToEnd;
    auto *form = qobject_cast<QFormLayout *>(m_epochs->parentWidget()->layout());
    if (form) {
        form->setRowVisible(m_epochs, !e2e);
        form->setRowVisible(m_e2eEpochs, e2e);
    }
    const RecipeSpec &r = effective.recipe;
    m_schedule->setText(
        e2e ? tr("End-to-end: %1").arg(scheduleText(r.e2e.lr, endToEndEpochs(effective)))
            : tr("Each stage: %1").arg(scheduleText(r.lr, r.epochsPerStage)));
    m_epochsHint->setText(note.isEmpty() ? QString() : note + QLatin1Char('.'));
    m_epochsHint->setVisible(!note.isEmpty());
}

} // namespace lw
