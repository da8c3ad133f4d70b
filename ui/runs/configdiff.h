#pragma once

#include "core/store/runstore.h"

#include <QMap>
#include <QString>
#include <QStringList>
#include <QVector>

namespace lw {

/// A run's configuration as flat "path -> value" pairs: the run-level fields (mode, seed,
/// dataset, dataset_fingerprint, device, torch_version), the spec as "spec.<path>" (without its
/// embedded recipe) and the recipe as "recipe.<path>". Arrays index as "[i]". Text that is not
/// valid JSON is kept whole under "spec" or "recipe".
QMap<QString, QString> flattenRunConfig(const RunDetail &detail);

/// Flattens a JSON document's leaves under `prefix` into `out`.
void flattenJson(const QByteArray &json, const QString &prefix, QMap<QString, QString> &out);

struct ConfigField
{
    QString path;
    QStringList values; ///< one per run; "—" where a run lacks the field
    bool differs = false;
};

/// Every field of `configs` (union of the paths, sorted, with "mode" first), each marked
/// whether it differs between the runs.
QVector<ConfigField> diffConfigs(const QVector<QMap<QString, QString>> &configs);

/// The fields that decide whether runs "differ only by seed": the config without "seed" and
/// "recipe.seed", as one string (equal strings = same group).
QString seedGroupKey(const QMap<QString, QString> &config);

} // namespace lw
