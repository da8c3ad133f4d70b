#pragma once

#include "core/spec/spec.h"

#include <QWidget>

#include <functional>
#include <optional>
#include <vector>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

namespace lw {

/// Edits the spec's name, description and training recipe (dataset, epochs per stage, LR
/// schedule, batch, optimizer, augmentation, normalization, ensemble, precision, seed and the
/// end-to-end twin's schedule). Spin boxes and combos apply at once, text fields when editing
/// finishes. Widgets are named after their field (e.g. "epochsPerStage").
class RecipePanel : public QWidget
{
    Q_OBJECT

public:
    explicit RecipePanel(QWidget *parent = nullptr);

    /// Shows `spec`'s name, description and recipe without emitting edited().
    void showSpec(const Spec &spec);

Q_SIGNALS:
    /// `spec` is the shown spec with the user's change; `field` names the field ("recipe.seed").
    void edited(const lw::Spec &spec, const QString &field);

private:
    using Apply = std::function<void(Spec &)>;
    void change(const QString &field, const Apply &apply);
    QLineEdit *listEdit(const QString &name, const QString &field,
                        std::function<std::vector<double> &(Spec &)> list);

    Spec m_spec;
    bool m_updating = false;

    QLineEdit *m_name = nullptr;
    QLineEdit *m_description = nullptr;
    QComboBox *m_dataset = nullptr;
    QLineEdit *m_path = nullptr;
    QSpinBox *m_trainLimit = nullptr;
    QSpinBox *m_testLimit = nullptr;
    QSpinBox *m_epochs = nullptr;
    QSpinBox *m_batch = nullptr;
    QSpinBox *m_testBatch = nullptr;
    QDoubleSpinBox *m_lr = nullptr;
    QDoubleSpinBox *m_lrFactor = nullptr;
    QSpinBox *m_lrEvery = nullptr;
    QLineEdit *m_milestones = nullptr;
    QCheckBox *m_resetOptimizer = nullptr;
    QDoubleSpinBox *m_momentum = nullptr;
    QDoubleSpinBox *m_weightDecay = nullptr;
    QCheckBox *m_nesterov = nullptr;
    QCheckBox *m_augment = nullptr;
    QSpinBox *m_cropPadding = nullptr;
    QCheckBox *m_flip = nullptr;
    QCheckBox *m_resizedCrop = nullptr;
    QSpinBox *m_evalResize = nullptr;
    QLineEdit *m_mean = nullptr;
    QLineEdit *m_std = nullptr;
    QCheckBox *m_normFromData = nullptr;
    QComboBox *m_ensemble = nullptr;
    QComboBox *m_precision = nullptr;
    QLineEdit *m_seed = nullptr;
    QSpinBox *m_e2eEpochs = nullptr;
    QDoubleSpinBox *m_e2eLr = nullptr;
    QDoubleSpinBox *m_e2eFactor = nullptr;
    QSpinBox *m_e2eEvery = nullptr;
    QLineEdit *m_e2eMilestones = nullptr;
};

/// "20, 40" -> {20, 40}; nullopt when an entry is not a non-negative integer.
std::optional<std::vector<int>> parseIntList(const QString &text);
/// "0.49, 0.48" -> {0.49, 0.48}; nullopt when an entry is not a number.
std::optional<std::vector<double>> parseDoubleList(const QString &text);

} // namespace lw
