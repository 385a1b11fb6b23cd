import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// Delivers a target's due jobs one after the other without leaving the event loop between them:
/// each answer sends the next request from the loop that received it. A round trip through Swift
/// concurrency per job (the async client API) costs several thread hops, about a millisecond
/// on a busy 2-core host, which caps one target at about 1,000 callbacks/s; chained on one loop
/// the target's own latency dominates. Stops at the first failure: later jobs wait behind it.
final class InOrderDelivery: @unchecked Sendable {
    // Confined to `loop`: read and written only in its callbacks.
    private var outcomes: [String?] = []
    private let jobs: [ForwardJob]
    private let loop: any EventLoop
    private let promise: EventLoopPromise<[String?]>
    private let httpClient: HTTPClient
    private let signature: CallbackSignature?
    private let timeout: Duration
    private let now: @Sendable () -> Int64
    /// Checked before each send: false once shutdown began or the lease is no longer surely held.
    private let shouldContinue: @Sendable () -> Bool

    /// Outcomes in job order, nil for a delivered job; shorter than `jobs` when one failed (its
    /// reason is last).
    static func run(_ jobs: [ForwardJob], httpClient: HTTPClient, signature: CallbackSignature?, timeout: Duration,
                    now: @escaping @Sendable () -> Int64, shouldContinue: @escaping @Sendable () -> Bool) async -> [String?] {
        let delivery = InOrderDelivery(jobs: jobs, httpClient: httpClient, signature: signature, timeout: timeout, now: now,
                                       shouldContinue: shouldContinue)
        delivery.loop.execute { delivery.send(0) }
        do {
            return try await delivery.promise.futureResult.get()
        } catch {
            return ["\(error)"]
        }
    }

    private init(jobs: [ForwardJob], httpClient: HTTPClient, signature: CallbackSignature?, timeout: Duration,
                 now: @escaping @Sendable () -> Int64, shouldContinue: @escaping @Sendable () -> Bool) {
        self.shouldContinue = shouldContinue
        self.jobs = jobs
        self.httpClient = httpClient
        self.signature = signature
        self.timeout = timeout
        self.now = now
        loop = httpClient.eventLoopGroup.next()
        promise = loop.makePromise()
    }

    private func send(_ index: Int) {
        guard index < jobs.count, index == 0 || shouldContinue() else {
            promise.succeed(outcomes)
            return
        }
        let job = jobs[index]
        let request: HTTPClient.Request
        do {
            var headers = HTTPHeaders()
            if !job.contentType.isEmpty { headers.add(name: "Content-Type", value: job.contentType) }
            headers.add(name: ForwardRequest.deliveryHeader, value: job.delivery)
            request = try HTTPClient.Request(url: ForwardRequest.url(target: job.target, query: job.query, signature: signature,
                                                                     nowSeconds: now() / 1000),
                                             method: .POST, headers: headers, body: .byteBuffer(job.body))
        } catch {
            finish("\(error)")
            return
        }
        httpClient.execute(request: request, eventLoop: .delegateAndChannel(on: loop),
                           deadline: .now() + .nanoseconds(timeout.nanoseconds)).whenComplete { result in
            switch result {
            case .success(let response) where (200..<300).contains(Int(response.status.code)):
                self.outcomes.append(nil)
                self.send(index + 1)
            case .success(let response):
                self.finish("answered HTTP \(response.status.code)")
            case .failure(let error):
                self.finish("\(error)")
            }
        }
    }

    private func finish(_ failure: String) {
        outcomes.append(failure)
        promise.succeed(outcomes)
    }
}
