/// A test-harness failure with a message (a process that did not start, a file that is not JSON ...).
struct IntegrationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
