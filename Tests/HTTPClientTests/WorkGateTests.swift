import Foundation
import HTTPClient
import Testing

@Suite("WorkGate: a few threads at a time do local work, in arrival order; remote waits do not count")
struct WorkGateTests {
    final class Box: @unchecked Sendable {
        let lock = NSLock()
        var order: [Int] = []
        var inside = 0
        var most = 0
        func record(_ i: Int) { lock.lock(); order.append(i); lock.unlock() }
        func enter() { lock.lock(); inside += 1; most = max(most, inside); lock.unlock() }
        func leave() { lock.lock(); inside -= 1; lock.unlock() }
    }

    func waitFor(_ what: String, _ condition: () -> Bool) {
        let start = ContinuousClock.now
        while !condition() && ContinuousClock.now - start < .seconds(10) { usleep(1000) }
        #expect(condition(), "\(what)")
    }

    @Test("one place, 8 threads: the waiting ones get in in the order they came")
    func arrivalOrder() {
        let gate = WorkGate()
        gate.configure(limit: 1)
        let box = Box()
        let release = DispatchSemaphore(value: 0)
        // Thread 0 holds the place until released; the other seven queue up one after another.
        for i in 0..<8 {
            Thread {
                gate.inside {
                    box.enter()
                    box.record(i)
                    if i == 0 { release.wait() }
                    box.leave()
                }
            }.start()
            if i == 0 { waitFor("thread 0 inside") { gate.state.active == 1 } } else { waitFor("thread \(i) waiting") { gate.state.waiting == i } }
        }
        release.signal()
        waitFor("all done") { box.lock.lock(); defer { box.lock.unlock() }; return box.order.count == 8 }
        waitFor("all places given back") { gate.state.active == 0 && gate.state.waiting == 0 }
        #expect(box.most == 1)
        #expect(box.order == Array(0..<8))
    }

    @Test("2 places, 16 threads at once: never more than 2 inside")
    func limit() {
        let gate = WorkGate()
        gate.configure(limit: 2)
        let box = Box()
        for _ in 0..<16 { Thread { gate.inside { box.enter(); usleep(20_000); box.leave(); box.record(0) } }.start() }
        waitFor("all done") { box.lock.lock(); defer { box.lock.unlock() }; return box.order.count == 16 }
        waitFor("all places given back") { gate.state.active == 0 && gate.state.waiting == 0 }
        #expect(box.most == 2)
    }

    @Test("a thread waiting on something remote gives its place to the next in line, and is back at once afterwards")
    func outsideGivesThePlaceUp() {
        let gate = WorkGate()
        gate.configure(limit: 1)
        let remote = DispatchSemaphore(value: 0)
        let box = Box()
        let slow = Thread {
            gate.inside {
                box.record(1)
                gate.outside { remote.wait() }   // as HTTPClient.send does around curl_easy_perform
                box.record(3)
            }
        }
        slow.start()
        waitFor("the slow one is waiting on its remote call") { box.lock.lock(); defer { box.lock.unlock() }; return box.order == [1] }
        let quick = Thread { gate.inside { box.record(2) } }
        quick.start()
        waitFor("the quick one got the place meanwhile") { box.lock.lock(); defer { box.lock.unlock() }; return box.order == [1, 2] }
        remote.signal()
        waitFor("the slow one finished") { box.lock.lock(); defer { box.lock.unlock() }; return box.order == [1, 2, 3] }
        waitFor("nothing held") { gate.state.active == 0 }
    }

    @Test("threads back from remote calls at once go on one at a time, past the limit, beside the line")
    func returnsOneAtATime() {
        let gate = WorkGate()
        gate.configure(limit: 2)
        let box = Box()
        let calling = Box()
        let remote = DispatchSemaphore(value: 0)
        let hold = DispatchSemaphore(value: 0)
        for i in 0..<3 {
            Thread {
                gate.inside {
                    gate.outside { calling.record(i); remote.wait() }   // three model calls answered together
                    box.enter(); box.record(i); hold.wait(); box.leave()
                }
            }.start()
        }
        waitFor("all three waiting on the remote, no place held") {
            calling.lock.lock(); defer { calling.lock.unlock() }
            return calling.order.count == 3 && gate.state.active == 0
        }
        for _ in 0..<3 { remote.signal() }
        waitFor("one goes on, two in the return line") { gate.returnState.returning == 1 && gate.returnState.waiting == 2 }
        // A new request still gets in beside them.
        let fresh = DispatchSemaphore(value: 0)
        Thread { gate.inside { box.record(9) }; fresh.signal() }.start()
        #expect(fresh.wait(timeout: .now() + 5) == .success)
        for n in 1...3 {
            waitFor("returner \(n) inside") { box.lock.lock(); defer { box.lock.unlock() }; return box.order.filter { $0 != 9 }.count == n }
            #expect(box.most == 1)
            hold.signal()
        }
        waitFor("nothing held") { gate.state.active == 0 && gate.returnState.returning == 0 && gate.returnState.waiting == 0 }
    }

    @Test("a thread back from a remote call waits for its turn at most returnWaitMS (no deadlock on a turn held too long)")
    func returnWaitIsBounded() {
        let gate = WorkGate()
        gate.configure(limit: 2, returnWaitMS: 100)
        let box = Box()
        let hold = DispatchSemaphore(value: 0)
        let first = DispatchSemaphore(value: 0)
        Thread { gate.inside { gate.outside { () }; first.signal(); hold.wait(); box.record(1) } }.start()
        #expect(first.wait(timeout: .now() + 5) == .success)
        let started = ContinuousClock.now
        let second = DispatchSemaphore(value: 0)
        Thread { gate.inside { gate.outside { () }; box.record(2) }; second.signal() }.start()
        #expect(second.wait(timeout: .now() + 5) == .success)
        #expect(ContinuousClock.now - started >= .milliseconds(90))
        #expect(gate.returnState.waiting == 0)
        hold.signal()
        waitFor("nothing held") { gate.state.active == 0 && gate.returnState.returning == 0 }
        #expect(box.order == [2, 1])
    }

    @Test("off (limit 0, as in processes that never configure it): everything runs at once; outside without a place is a plain call")
    func offByDefault() {
        let gate = WorkGate()
        let box = Box()
        let go = DispatchSemaphore(value: 0)
        for _ in 0..<4 { Thread { gate.inside { box.enter(); go.wait(); box.leave() } }.start() }
        waitFor("all four inside") { box.lock.lock(); defer { box.lock.unlock() }; return box.inside == 4 }
        for _ in 0..<4 { go.signal() }
        #expect(gate.outside { 42 } == 42)
        #expect(gate.state.active == 0)
    }
}
