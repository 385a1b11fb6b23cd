import ArgumentParser

@main
struct SubscriberSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriber-sync",
        abstract: "Keeps an exact copy of Tencent Cloud Chat Official Account subscribers and streams every change as CloudEvents.",
        subcommands: [ServeCommand.self, ReconcileCommand.self, ExportCommand.self, AccountsCommand.self, ForwardsCommand.self, ReplayCommand.self, UserSigCommand.self, SimulatorCommand.self, DemoCommand.self],
        defaultSubcommand: nil
    )
}
