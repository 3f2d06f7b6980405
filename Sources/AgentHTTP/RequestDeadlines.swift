import NIOCore
import NIOHTTPTypes

/// Deadlines a client must meet, so a slow one (a slow-loris that dribbles a byte a second, or
/// a watcher that stops reading) holds a socket for a bounded time and never anything more:
/// from the moment a connection is idle (opened, or its last response sent) the next request
/// head must arrive within `head`; from its head, the whole body within `body`; and while a
/// response waits on a full socket (the client reads nothing), it must start reading again
/// within `stall`. A missed deadline closes the connection. A response that keeps moving (an
/// SSE stream too) is not limited in length.
final class RequestDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let head: TimeAmount
    let body: TimeAmount
    let stall: TimeAmount
    private var timer: Scheduled<Void>?
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

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(context, body)
        case .body: break
        case .end: disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context, head) }  // idle again: wait for the next head
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
        disarm()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: after) { loopBound.value.close(promise: nil) }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    private func disarmAll() {
        disarm()
        stallTimer?.cancel()
        stallTimer = nil
    }
}
