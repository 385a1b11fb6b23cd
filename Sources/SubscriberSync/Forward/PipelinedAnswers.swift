import NIOCore
import NIOHTTP1

/// One request for a `PipelinedConnection`, and the promise of its answer's status.
struct PipelinedRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer
    var answer: EventLoopPromise<UInt>
}

/// Pairs answers with requests on a pipelined HTTP/1.1 connection: HTTP/1.1 answers requests in
/// the order they were sent, so the oldest unanswered request owns the next answer. Answers'
/// bodies are dropped. When the connection ends, every request still waiting fails: it may or
/// may not have reached the target, which the delivery id lets the target sort out.
///
/// The target has `timeout` for each answer, counted from the write or from the answer before:
/// a deep window to a slow target is not cut short while answers keep coming. When it passes, the
/// waiting requests fail at once (a TLS close waits for the peer's close_notify, and an answer
/// read meanwhile must not count) and the connection is closed.
final class PipelinedAnswers: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = PipelinedRequest
    typealias OutboundOut = HTTPClientRequestPart

    struct Closed: Error, CustomStringConvertible {
        var description: String { "the target closed the connection before answering" }
    }

    struct TimedOut: Error, CustomStringConvertible {
        var timeout: TimeAmount
        var description: String { "no answer within \(Duration.nanoseconds(timeout.nanoseconds))" }
    }

    private let timeout: TimeAmount
    private var waiting = CircularBuffer<EventLoopPromise<UInt>>()
    /// The status of the answer being read, and whether the target closes after it.
    private var reading: (status: UInt, closes: Bool)?
    private var timer: Scheduled<Void>?
    /// Set once the connection is given up: nothing read after that counts.
    private var failed = false

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        guard context.channel.isActive, !failed else {
            // The caller fails the answer with the write.
            promise?.fail(Closed())
            return
        }
        waiting.append(request.answer)
        if timer == nil { startTimer(context: context) }
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            reading = (UInt(head.status.code), !head.isKeepAlive)
        case .body:
            break
        case .end:
            guard let answer = reading else { return }
            reading = nil
            guard let request = waiting.popFirst() else {
                giveUp(context: context, Closed())
                return
            }
            timer?.cancel()
            timer = nil
            if !waiting.isEmpty { startTimer(context: context) }
            request.succeed(answer.status)
            if answer.closes {
                // Requests sent after this one were never read; they fail with `Closed` and go again.
                giveUp(context: context, Closed())
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failWaiting(Closed())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        giveUp(context: context, error)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failWaiting(Closed())
    }

    private func startTimer(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.timer = nil
            handler.giveUp(context: context, TimedOut(timeout: handler.timeout))
        }
    }

    private func giveUp(context: ChannelHandlerContext, _ error: any Error) {
        failed = true
        failWaiting(error)
        context.close(promise: nil)
    }

    private func failWaiting(_ error: any Error) {
        timer?.cancel()
        timer = nil
        while let request = waiting.popFirst() { request.fail(error) }
    }
}
