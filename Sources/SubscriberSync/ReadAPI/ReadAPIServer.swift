import Hummingbird
import ServiceLifecycle

/// The read API's listener as a service: once it has stopped (its requests answered), the pages
/// still being read ahead finish before the services after it close the store.
struct ReadAPIServer: Service {
    let application: Application<RouterResponder<BasicRequestContext>>
    let api: ReadAPI

    func run() async throws {
        do {
            try await application.run()
        } catch {
            await api.finish()
            throw error
        }
        await api.finish()
    }
}
