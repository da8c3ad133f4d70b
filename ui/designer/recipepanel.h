#pragma once

#include "core/spec/spec.h"

#include <QHash>
#include <QWidget>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

class QLabel;
class QLineEdit;

namespace lw {

template<class T>
class FieldBindings;

/// Edits the spec's name, description and training recipe (dataset, epochs per stage, LR
/// schedule, batch, optimizer, augmentation, normalization, ensemble, precision, seed and the
/// end-to-end twin's schedule). Spin boxes and combos apply at once, text fields when editing
/// finishes. Widgets are named after their field (e.g. "epochsPerStage").
class RecipePanel : public QWidget
{
    Q_OBJECT

public:
    explicit RecipePanel(QWidget *parent = nullptr);
    ~RecipePanel() override;

    /// Shows `spec`'s name, description and recipe without emitting edited().
    void showSpec(const Spec &spec);
    /// Shows the validator's issues about the recipe above the fields, and marks the list field
    /// each one names (e.g. recipe.e2e.lr.milestones[1]).
    void showIssues(const std::vector<SpecIssue> &issues);

Q_SIGNALS:
    /// `spec` is the shown spec with the user's change; `field` names the field ("recipe.seed").
    void edited(const lw::Spec &spec, const QString &field);

private:
    using Apply = std::function<void(Spec &)>;
    void change(const QString &field, const Apply &apply);
    /// A comma-separated list field (`get` as in FieldBindings), marked when it does not parse.
    template<class Get>
    QLineEdit *listEdit(const QString &name, const QString &field, Get get);

    Spec m_spec;
    bool m_updating = false;
    QLabel *m_issuesLabel = nullptr;
    QHash<QString, QLineEdit *> m_listEdits; ///< list fields by spec path ("recipe.lr.milestones")

    std::unique_ptr<FieldBindings<Spec>> m_fields;
};

/// "20, 40" -> {20, 40}; nullopt when an entry is not a non-negative integer.
std::optional<std::vector<int>> parseIntList(const QString &text);
/// "0.49, 0.48" -> {0.49, 0.48}; nullopt when an entry is not a number.
std::optional<std::vector<double>> parseDoubleList(const QString &text);

} // namespace lw
