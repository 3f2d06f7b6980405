import NIOCore
import NIOHTTPTypes

/// Deadlines a client must meet, so a slow one (a slow-loris that dribbles a byte a second, or
/// a watcher that stops reading) holds a socket for a bounded time and never anything more:
/// from the moment a connection is idle (opened, or its last response sent) the next request
/// head must arrive within `head`; from its head, the whole body within `body`; and while a
/// response waits on a full socket (the client reads nothing), it must start reading again
/// within `stall`. A missed deadline closes the connection. A response that keeps moving (an
/// SSE stream too) is not limited in length.
///
/// Every request moves the deadline twice (its head, its response's end), so the deadline is a
/// value and the timer lazy: one scheduled task per connection, which on firing closes the
/// connection if the deadline has passed and otherwise waits for it again. A deadline that
/// moves later costs nothing; only one that moves earlier than the timer reschedules it.
final class RequestDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let head: TimeAmount
    let body: TimeAmount
    let stall: TimeAmount
    /// When the connection is closed unless the client gets on; nil while the server is answering.
    private var deadline: NIODeadline?
    /// Requests whose head was read and whose response has not ended (more than one when the
    /// client pipelines), and whether a request's body is still coming in.
    private var unanswered = 0
    private var receiving = false
    private var timer: Scheduled<Void>?
    private var timerAt: NIODeadline?
    private var stallTimer: Scheduled<Void>?

    init(head: TimeAmount, body: TimeAmount, stall: TimeAmount) {
        self.head = head
        self.body = body
        self.stall = stall
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, head) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, head)
        context.fireChannelActive()
    }

    // The deadline follows the connection's state: a body coming in has `body`; a connection
    // with nothing coming in and nothing left to answer waits `head` for the next request; one
    // being answered (also a pipelined request behind another) has none. A response that ends
    // before its request's body did (a 401 before the body is read) leaves the body deadline,
    // and the end of that body starts the wait for the next head.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            unanswered += 1
            receiving = true
            arm(context, body)
        case .body: break
        case .end:
            receiving = false
            if unanswered == 0 { arm(context, head) } else { disarm() }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            unanswered = max(0, unanswered - 1)
            if !receiving && unanswered == 0 { arm(context, head) }  // idle again: wait for the next head
        }
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stallTimer?.cancel()
            stallTimer = nil
        } else if stallTimer == nil {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            stallTimer = context.eventLoop.scheduleTask(in: stall) { loopBound.value.close(promise: nil) }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarmAll()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarmAll() }

    private func arm(_ context: ChannelHandlerContext, _ after: TimeAmount) {
        let due = NIODeadline.now() + after
        deadline = due
        if let at = timerAt, at <= due { return }  // it fires first, and waits again for `due`
        timer?.cancel()
        schedule(context, at: due)
    }

    private func schedule(_ context: ChannelHandlerContext, at due: NIODeadline) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timerAt = due
        timer = context.eventLoop.scheduleTask(deadline: due) {
            let (handler, context) = bound.value
            handler.fired(context)
        }
    }

    private func fired(_ context: ChannelHandlerContext) {
        timer = nil
        timerAt = nil
        guard let due = deadline else { return }  // answering: no deadline until the response ends
        if due <= .now() {
            context.close(promise: nil)
        } else {
            schedule(context, at: due)
        }
    }

    private func disarm() {
        deadline = nil
    }

    private func disarmAll() {
        deadline = nil
        timer?.cancel()
        timer = nil
        timerAt = nil
        stallTimer?.cancel()
        stallTimer = nil
    }
}
