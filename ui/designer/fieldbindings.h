#pragma once

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLineEdit>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QString>

#include <algorithm>
#include <climits>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

namespace lw {

/// Sets a widget's value without emitting its change signals (the value comes from the model).
inline void setSilently(QSpinBox *w, int v)
{
    const QSignalBlocker block(w);
    if (w->value() != v)
        w->setValue(v);
}
inline void setSilently(QDoubleSpinBox *w, double v)
{
    const QSignalBlocker block(w);
    if (w->value() != v)
        w->setValue(v);
}
inline void setSilently(QCheckBox *w, bool v)
{
    const QSignalBlocker block(w);
    w->setChecked(v);
}
inline void setSilently(QLineEdit *w, const QString &text)
{
    const QSignalBlocker block(w);
    if (w->text() != text)
        w->setText(text);
}
/// Selects the item whose data is `data`.
inline void setSilently(QComboBox *w, int data)
{
    const QSignalBlocker block(w);
    w->setCurrentIndex(w->findData(data));
}

/// Binds the editors of a form to the fields of a T (a Spec, a StageSpec): show() fills every
/// bound editor from a value without emitting their signals, and a user's change of one is
/// handed to the edit callback as the field's key and a function that writes the new value
/// into a T. A field is named by `get`, a generic lambda returning it by reference:
/// `[](auto &s) -> auto & { return s.recipe.seed; }`. The bindings must not outlive the
/// editors' owner (`context`).
template<class T>
class FieldBindings
{
public:
    using Apply = std::function<void(T &)>;
    using Edit = std::function<void(const QString &field, const Apply &apply)>;

    FieldBindings(QObject *context, Edit edit)
        : m_context(context)
        , m_edit(std::move(edit))
    {}

    void show(const T &value) const
    {
        for (const auto &show : m_shows)
            show(value);
    }

    /// An integer field; wider fields are shown clamped to the spin box's int range.
    template<class Get>
    QSpinBox *bind(QSpinBox *w, const QString &field, Get get)
    {
        m_shows.push_back(
            [w, get](const T &v) { setSilently(w, int(std::min<long long>(get(v), INT_MAX))); });
        QObject::connect(w, &QSpinBox::valueChanged, m_context, [edit = m_edit, field, get](int n) {
            edit(field, [get, n](T &v) { get(v) = n; });
        });
        return w;
    }

    template<class Get>
    QDoubleSpinBox *bind(QDoubleSpinBox *w, const QString &field, Get get)
    {
        m_shows.push_back([w, get](const T &v) { setSilently(w, get(v)); });
        QObject::connect(
            w, &QDoubleSpinBox::valueChanged, m_context,
            [edit = m_edit, field, get](double x) { edit(field, [get, x](T &v) { get(v) = x; }); });
        return w;
    }

    template<class Get>
    QCheckBox *bind(QCheckBox *w, const QString &field, Get get)
    {
        m_shows.push_back([w, get](const T &v) { setSilently(w, get(v)); });
        QObject::connect(w, &QCheckBox::toggled, m_context, [edit = m_edit, field, get](bool on) {
            edit(field, [get, on](T &v) { get(v) = on; });
        });
        return w;
    }

    /// An enum field; the combo box's item data are the enum's values.
    template<class Get>
    QComboBox *bind(QComboBox *w, const QString &field, Get get)
    {
        m_shows.push_back([w, get](const T &v) { setSilently(w, int(get(v))); });
        QObject::connect(w, &QComboBox::currentIndexChanged, m_context,
                         [w, edit = m_edit, field, get] {
                             using Enum = std::remove_cvref_t<decltype(get(std::declval<T &>()))>;
                             const auto value = Enum(w->currentData().toInt());
                             edit(field, [get, value](T &v) { get(v) = value; });
                         });
        return w;
    }

    /// A text field, applied when editing finishes.
    template<class Get>
    QLineEdit *bind(QLineEdit *w, const QString &field, Get get)
    {
        m_shows.push_back([w, get](const T &v) { setSilently(w, QString::fromStdString(get(v))); });
        QObject::connect(w, &QLineEdit::editingFinished, m_context, [w, edit = m_edit, field, get] {
            edit(field, [get, t = w->text().toStdString()](T &v) { get(v) = t; });
        });
        return w;
    }

    /// A text field chosen from the combo box's items; a value not among them is added.
    template<class Get>
    QComboBox *bindText(QComboBox *w, const QString &field, Get get)
    {
        m_shows.push_back([w, get](const T &v) {
            const QSignalBlocker block(w);
            const QString text = QString::fromStdString(get(v));
            if (w->findText(text) < 0)
                w->addItem(text);
            w->setCurrentText(text);
        });
        QObject::connect(w, &QComboBox::currentTextChanged, m_context,
                         [edit = m_edit, field, get](const QString &text) {
                             edit(field, [get, t = text.toStdString()](T &v) { get(v) = t; });
                         });
        return w;
    }

    /// A field whose editor reports its own changes (lists, validated text): only shown here.
    void onShow(std::function<void(const T &)> show) { m_shows.push_back(std::move(show)); }

private:
    QObject *m_context;
    Edit m_edit;
    std::vector<std::function<void(const T &)>> m_shows;
};

} // namespace lw
