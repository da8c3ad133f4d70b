// layerwise: the desktop workbench. Parses the command line and shows the main window.

#include "ui/mainwindow.h"

#include "core/runtime/runtime.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>

int main(int argc, char *argv[])
{
    lw::preferPassiveOpenMpWait(argv);
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Layerwise"));
    QApplication::setOrganizationName(QStringLiteral("Layerwise"));
    QApplication::setApplicationVersion(QStringLiteral(LW_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("layerwise"));
    // The installed icon theme's (hicolor) first, else the copy built in (packaging/icons).
    QApplication::setWindowIcon(QIcon::fromTheme(QStringLiteral("layerwise"),
                                                 QIcon(QStringLiteral(":/icons/layerwise.svg"))));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Greedy layerwise training workbench for CNNs"));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption db(
        QStringLiteral("db"),
        QStringLiteral("Run store (default: $LAYERWISE_DB or ~/.local/share/layerwise/"
                       "runs.sqlite)."),
        QStringLiteral("file"));
    const QCommandLineOption spec(QStringLiteral("spec"),
                                  QStringLiteral("Open a spec file (JSON) to edit and train."),
                                  QStringLiteral("file"));
    const QCommandLineOption preset(QStringLiteral("preset"),
                                    QStringLiteral("Open a shipped preset (default: fmnist-k1)."),
                                    QStringLiteral("name"));
    const QCommandLineOption dataset(
        QStringLiteral("dataset"),
        QStringLiteral("Dataset: fashion-mnist, mnist, kmnist, cifar10, cifar100, imagefolder "
                       "or synthetic."),
        QStringLiteral("name"));
    const QCommandLineOption data(QStringLiteral("data"),
                                  QStringLiteral("Folder holding the dataset's files."),
                                  QStringLiteral("folder"));
    const QCommandLineOption start(QStringLiteral("start"),
                                   QStringLiteral("Start training at once (after the data "
                                                  "check)."));
    parser.addOptions({db, spec, preset, dataset, data, start});
    parser.addPositionalArgument(QStringLiteral("file"),
                                 QStringLiteral("A spec file to open (same as --spec)."),
                                 QStringLiteral("[file]"));
    parser.process(app);

    lw::MainWindowOptions options;
    options.db = parser.value(db);
    options.spec = parser.value(spec);
    options.preset = parser.value(preset);
    options.dataset = parser.value(dataset);
    options.data = parser.value(data);
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
