#include "ui/runs/configdiff.h"

#include "ui/runs/runformat.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>

#include <algorithm>
#include <cmath>

namespace lw {

namespace {

QString leafText(const QJsonValue &v)
{
    switch (v.type()) {
    case QJsonValue::Bool: return v.toBool() ? QStringLiteral("true") : QStringLiteral("false");
    case QJsonValue::Double: {
        const double d = v.toDouble();
        if (std::isfinite(d) && d == std::round(d) && std::abs(d) < 1e15)
            return QString::number(static_cast<qint64>(d));
        return QString::number(d, 'g', 15);
    }
    case QJsonValue::String: return v.toString();
    case QJsonValue::Null: return QStringLiteral("null");
    default: return {};
    }
}

void flattenValue(const QJsonValue &v, const QString &path, QMap<QString, QString> &out,
                  const QString &skipKey)
{
    if (v.isObject()) {
        const QJsonObject o = v.toObject();
        if (o.isEmpty())
            out.insert(path, QStringLiteral("{}"));
        for (auto it = o.begin(); it != o.end(); ++it) {
            if (!skipKey.isEmpty() && it.key() == skipKey)
                continue;
            flattenValue(it.value(), path.isEmpty() ? it.key() : path + QLatin1Char('.') + it.key(),
                         out, {});
        }
    } else if (v.isArray()) {
        const QJsonArray a = v.toArray();
        if (a.isEmpty())
            out.insert(path, QStringLiteral("[]"));
        for (int i = 0; i < a.size(); ++i)
            flattenValue(a.at(i), path + QStringLiteral("[%1]").arg(i), out, {});
    } else {
        out.insert(path, leafText(v));
    }
}

void flattenDocument(const QByteArray &json, const QString &prefix, QMap<QString, QString> &out,
                     const QString &skipKey)
{
    if (json.trimmed().isEmpty())
        return;
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
    if (error.error != QJsonParseError::NoError) {
        out.insert(prefix, QString::fromUtf8(json)); // not JSON: compare the text whole
        return;
    }
    const QJsonValue root = doc.isObject() ? QJsonValue(doc.object()) : QJsonValue(doc.array());
    flattenValue(root, prefix, out, skipKey);
}

} // namespace

void flattenJson(const QByteArray &json, const QString &prefix, QMap<QString, QString> &out)
{
    flattenDocument(json, prefix, out, {});
}

QMap<QString, QString> flattenRunConfig(const RunDetail &d)
{
    QMap<QString, QString> out;
    out.insert(QStringLiteral("mode"), modeText(d.run.mode));
    out.insert(QStringLiteral("seed"), QString::number(d.run.seed));
    out.insert(QStringLiteral("dataset"), QString::fromStdString(d.run.dataset));
    out.insert(QStringLiteral("dataset_fingerprint"),
               QString::fromStdString(d.run.datasetFingerprint));
    out.insert(QStringLiteral("device"), QString::fromStdString(d.run.device));
    out.insert(QStringLiteral("processes"),
               processesText(d.run.worldSize, d.run.backend, std::string()));
    if (!d.run.hosts.empty())
        out.insert(QStringLiteral("hosts"), QString::fromStdString(d.run.hosts));
    out.insert(QStringLiteral("torch_version"), QString::fromStdString(d.run.torchVersion));
    const bool haveRecipe = !QByteArray::fromStdString(d.recipeJson).trimmed().isEmpty();
    // The spec embeds its recipe: show it once, under "recipe.", from the recipe column when set.
    QMap<QString, QString> spec;
    flattenDocument(QByteArray::fromStdString(d.specJson), QStringLiteral("spec"), spec,
                    haveRecipe ? QStringLiteral("recipe") : QString());
    for (auto it = spec.begin(); it != spec.end(); ++it) {
        QString key = it.key();
        if (!haveRecipe && key.startsWith(QLatin1String("spec.recipe")))
            key.remove(0, 5);
        out.insert(key, it.value());
    }
    if (haveRecipe)
        flattenDocument(QByteArray::fromStdString(d.recipeJson), QStringLiteral("recipe"), out, {});
    return out;
}

QVector<ConfigField> diffConfigs(const QVector<QMap<QString, QString>> &configs)
{
    QSet<QString> keys;
    for (const auto &c : configs)
        for (auto it = c.begin(); it != c.end(); ++it)
            keys.insert(it.key());
    QStringList paths(keys.begin(), keys.end());
    std::sort(paths.begin(), paths.end(), [](const QString &a, const QString &b) {
        const bool ma = a == QLatin1String("mode"), mb = b == QLatin1String("mode");
        if (ma != mb)
            return ma;
        return a < b;
    });
    QVector<ConfigField> fields;
    fields.reserve(paths.size());
    static const QString missing = QStringLiteral("—");
    for (const auto &path : paths) {
        ConfigField f;
        f.path = path;
        for (const auto &c : configs) {
            auto it = c.constFind(path);
            f.values << (it == c.constEnd() ? missing : *it);
        }
        for (const auto &v : f.values)
            if (v != f.values.first())
                f.differs = true;
        fields << f;
    }
    return fields;
}

QString seedGroupKey(const QMap<QString, QString> &config)
{
    QString key;
    for (auto it = config.begin(); it != config.end(); ++it) {
        if (it.key() == QLatin1String("seed") || it.key() == QLatin1String("recipe.seed"))
            continue;
        key += it.key() + QLatin1Char('\x1f') + it.value() + QLatin1Char('\x1e');
    }
    return key;
}

} // namespace lw
