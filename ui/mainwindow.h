#pragma once

#include "core/spec/spec.h"

#include <QList>
#include <QMainWindow>
#include <QString>

#include <memory>

class QAction;
class QActionGroup;
class QLabel;
class QStackedWidget;

namespace lw {

class DesignView;
class RunStore;
class RunsView;
class TrainView;

/// What the command line asks of the main window (app/gui/main.cpp parses it).
struct MainWindowOptions
{
    QString db;         ///< run store; empty: RunStore::resolvePath (LAYERWISE_DB or the default)
    QString spec;       ///< spec file to train (and edit)
    QString preset;     ///< preset to train (and edit); default: fmnist-k1
    QString dataset;    ///< dataset kind, overrides the spec's
    QString data;       ///< dataset folder, overrides the spec's
    bool start = false; ///< start training once the data check passed
};

/// The Layerwise window: three places (Design, Train, Runs) on a stacked widget chosen from the
/// toolbar or View menu, one run store shared by the Train and Runs views, menus with the
/// standard shortcuts, and the window layout and last folders kept in QSettings.
class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    enum class Place { Design, Train, Runs };

    explicit MainWindow(const MainWindowOptions &options = {}, QWidget *parent = nullptr);
    ~MainWindow() override;

    void showPlace(Place place);
    Place place() const;

    DesignView *designView() const { return m_design; }
    TrainView *trainView() const { return m_train; }
    RunsView *runsView() const { return m_runs; }
    std::shared_ptr<RunStore> store() const { return m_store; }
    /// Why the store could not be opened (empty when it is open).
    QString storeError() const { return m_storeError; }
    QString storePath() const { return m_storePath; }
    QAction *placeAction(Place place) const;

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void openStore(const QString &db);
    void createActions();
    void createMenus();
    void updateTitle();
    void restoreSettings();
    void saveSettings() const;
    void applyOptions(const MainWindowOptions &options);
    void about();
    void onTrainRequested(const Spec &spec);
    /// Enables and binds the actions of the place shown (Edit, Ctrl+O, Ctrl+Return).
    void followPlace(Place place);

    std::shared_ptr<RunStore> m_store;
    QString m_storePath;
    QString m_storeError;
    QStackedWidget *m_stack = nullptr;
    DesignView *m_design = nullptr;
    TrainView *m_train = nullptr;
    RunsView *m_runs = nullptr;
    QLabel *m_stateLabel = nullptr;
    QList<QAction *> m_placeActions;       ///< indexed by Place
    QActionGroup *m_designEdits = nullptr; ///< the Edit menu: enabled in the Design view only
    /// "Branch from stage k" in progress in the Design view: the parent run, k, and the
    /// parent's spec (the locked stages must still match it when "Train this" is pressed).
    qint64 m_branchParent = -1;
    int m_branchStage = 0;
    Spec m_branchSpec;
    bool m_closeWhenStopped = false;
    bool m_startPending = false;
};

} // namespace lw
