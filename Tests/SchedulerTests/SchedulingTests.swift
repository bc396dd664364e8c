import LinuxSystem
import Testing
@testable import Scheduler

@Suite("Scheduling: filters, score, placement")
struct SchedulingTests {
    func node(_ name: String, cpu: String = "2", memory: String = "4Gi", labels: String = "{}", taints: String = "[]", ready: Bool = true,
              unschedulable: Bool = false) -> NodeInfo {
        NodeInfo(try! JSON.parse("""
            {"metadata":{"name":"\(name)","labels":\(labels)},"spec":{"taints":\(taints),"unschedulable":\(unschedulable)},
             "status":{"allocatable":{"cpu":"\(cpu)","memory":"\(memory)","pods":"110"},
                       "conditions":[{"type":"Ready","status":"\(ready ? "True" : "False")"}]}}
            """))
    }

    func pod(_ name: String, spec: String = #"{"containers":[{"name":"c"}]}"#) -> PodInfo {
        PodInfo(try! JSON.parse(#"{"metadata":{"name":"\#(name)","namespace":"default","uid":"u-\#(name)"},"spec":\#(spec)}"#))
    }

    @Test("requests: containers summed, the largest init container, overhead, one pod")
    func requests() {
        let p = pod("p", spec: #"{"containers":[{"name":"a","resources":{"requests":{"cpu":"100m","memory":"64Mi"}}},{"name":"b","resources":{"requests":{"cpu":"200m"}}}],"initContainers":[{"name":"i","resources":{"requests":{"cpu":"500m"}}}],"overhead":{"memory":"1Mi"}}"#)
        #expect(p.requests == Resources(milliCPU: 500, memory: (64 << 20) + (1 << 20), pods: 1))
    }

    @Test("filters: node name, selector, required affinity, taints and tolerations, ports, room, unschedulable")
    func filters() {
        let n = node("n1", labels: #"{"disk":"ssd","zone":"a"}"#, taints: #"[{"key":"gpu","value":"yes","effect":"NoSchedule"}]"#)
        #expect(Scheduling.filter(pod("p"), n) == "node(s) had untolerated taint {gpu: yes}")
        let tolerant = #""tolerations":[{"key":"gpu","operator":"Exists"}]"#
        #expect(Scheduling.filter(pod("p", spec: #"{"containers":[{"name":"c"}],\#(tolerant)}"#), n) == nil)
        #expect(Scheduling.filter(pod("p", spec: #"{"nodeSelector":{"disk":"hdd"},\#(tolerant)}"#), n) == "node(s) didn't match Pod's node affinity/selector")
        let affinity = #""affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["b"]}]},{"matchExpressions":[{"key":"disk","operator":"Exists"}]}]}}}"#
        #expect(Scheduling.filter(pod("p", spec: "{\(affinity),\(tolerant)}"), n) == nil)
        #expect(Scheduling.filter(pod("p", spec: #"{"nodeName":"n2",\#(tolerant)}"#), n) == "node(s) didn't match the requested node name")
        #expect(Scheduling.filter(pod("p", spec: #"{"containers":[{"name":"c","resources":{"requests":{"cpu":"3"}}}],\#(tolerant)}"#), n) == "Insufficient cpu")
        #expect(Scheduling.filter(pod("p"), node("n", unschedulable: true)) == "node(s) were unschedulable")
        var busy = node("n")
        busy.add(pod("a", spec: #"{"containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":8080}]}]}"#))
        #expect(Scheduling.filter(pod("b", spec: #"{"containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":8080}]}]}"#), busy) == "node(s) didn't have free ports for the requested pod ports")
    }

    @Test("placement: the least allocated node; nothing fits: kube-scheduler's message with counts")
    func placement() {
        var full = node("a")
        full.add(pod("x", spec: #"{"containers":[{"name":"c","resources":{"requests":{"cpu":"1500m"}}}]}"#))
        let nodes = [full, node("b"), node("c", ready: false)]
        #expect(Scheduling.place(pod("p", spec: #"{"containers":[{"name":"c","resources":{"requests":{"cpu":"100m"}}}]}"#), on: nodes) == .node("b"))
        #expect(Scheduling.place(pod("big", spec: #"{"containers":[{"name":"c","resources":{"requests":{"cpu":"64"}}}]}"#), on: nodes)
                == .unschedulable("0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were not ready."))
    }
}
