// Shows the Design view in a window:
//   designer_demo [preset-or-file.json] [stage-to-select] [input-height (an undoable edit)]
#include "ui/designer/designview.h"

#include <QApplication>
#include <QFileInfo>

#include <cstdio>

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    lw::DesignView view;
    const QString what = argc > 1 ? QString::fromLocal8Bit(argv[1]) : QStringLiteral("cifar10-k2");
    const bool ok = QFileInfo(what).isFile() ? view.openFile(what) : view.loadPreset(what);
    if (!ok) {
        std::fprintf(stderr, "designer_demo: %s\n", qPrintable(view.errorString()));
        return 1;
    }
    if (argc > 2)
        view.select({lw::DesignSelection::Kind::Stage, QString::fromLocal8Bit(argv[2]).toInt()});
    if (argc > 3) {
        lw::Spec edited = view.spec();
        edited.input.height = QString::fromLocal8Bit(argv[3]).toInt();
        view.editSpec(edited, QStringLiteral("Change input height"));
    }
    view.resize(1600, 1000);
    view.show();
    return app.exec();
}
