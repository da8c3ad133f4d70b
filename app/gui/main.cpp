// layerwise: the desktop workbench. Parses the command line and shows the main window.

#include "ui/mainwindow.h"

#include "core/runtime/runtime.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>

namespace {

/// The options that take a value, in the order --help lists them, and what each one sets.
struct ValueOption
{
    const char *name;
    const char *help;
    const char *valueName;
    QString lw::MainWindowOptions::*field;
};

const ValueOption kValueOptions[] = {
    {"db", "Run store (default: $LAYERWISE_DB or ~/.local/share/layerwise/runs.sqlite).", "file",
     &lw::MainWindowOptions::db},
    {"spec", "Open a spec file (JSON) to edit and train.", "file", &lw::MainWindowOptions::spec},
    {"preset", "Open a shipped preset (default: fmnist-k1).", "name",
     &lw::MainWindowOptions::preset},
    {"dataset",
     "Dataset: fashion-mnist, mnist, kmnist, cifar10, cifar100, imagefolder or synthetic.", "name",
     &lw::MainWindowOptions::dataset},
    {"data", "Folder holding the dataset's files.", "folder", &lw::MainWindowOptions::data},
};

} // namespace

int main(int argc, char *argv[])
{
    lw::preferPassiveOpenMpWait(argv);
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Layerwise"));
    QApplication::setOrganizationName(QStringLiteral("Layerwise"));
    QApplication::setApplicationVersion(QStringLiteral(LW_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("io.github.layerwise.Layerwise"));
    // The installed icon theme's (hicolor) first, else the copy built in (packaging/icons).
    QApplication::setWindowIcon(QIcon::fromTheme(QStringLiteral("layerwise"),
                                                 QIcon(QStringLiteral(":/icons/layerwise.svg"))));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Greedy layerwise training workbench for CNNs"));
    parser.addHelpOption();
    parser.addVersionOption();
    for (const ValueOption &o : kValueOptions)
        parser.addOption(QCommandLineOption(QString::fromUtf8(o.name), QString::fromUtf8(o.help),
                                            QString::fromUtf8(o.valueName)));
    const QCommandLineOption start(QStringLiteral("start"),
                                   QStringLiteral("Start training at once (after the data "
                                                  "check)."));
    parser.addOption(start);
    parser.addPositionalArgument(QStringLiteral("file"),
                                 QStringLiteral("A spec file to open (same as --spec)."),
                                 QStringLiteral("[file]"));
    parser.process(app);

    lw::MainWindowOptions options;
    for (const ValueOption &o : kValueOptions)
        options.*o.field = parser.value(QString::fromUtf8(o.name));
    options.start = parser.isSet(start);
    const QStringList files = parser.positionalArguments();
    if (files.size() > 1) {
        qCritical("layerwise: one spec file at most, got %lld",
                  static_cast<long long>(files.size()));
        return 2;
    }
    if (!files.isEmpty()) {
        if (!options.spec.isEmpty()) {
            qCritical("layerwise: give the spec file either with --spec or as an argument");
            return 2;
        }
        options.spec = files.first();
    }
    if (!options.spec.isEmpty() && !options.preset.isEmpty()) {
        qCritical("layerwise: --spec and --preset exclude each other");
        return 2;
    }

    lw::MainWindow window(options);
    window.show();
    return app.exec();
}
