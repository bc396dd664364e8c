/// The roles and bindings a new cluster starts with (kube-apiserver's bootstrap policy, for the
/// resources this project serves): the user-facing `cluster-admin`/`admin`/`edit`/`view`, the
/// discovery and self-review roles every authenticated user holds, and the components' roles.
public enum DefaultPolicy {
    static let read = ["get", "list", "watch"]
    static let write = ["create", "delete", "deletecollection", "patch", "update"]

    /// What `view` reads (secrets excluded, as upstream).
    static let viewRules: [PolicyRule] = [
        PolicyRule(verbs: read, apiGroups: [""], resources: [
            "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "pods/log", "pods/status",
            "replicationcontrollers", "replicationcontrollers/scale", "replicationcontrollers/status", "serviceaccounts",
            "services", "services/status", "bindings", "events", "limitranges", "resourcequotas", "resourcequotas/status",
            "namespaces", "namespaces/status"]),
        PolicyRule(verbs: read, apiGroups: ["apps"], resources: [
            "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
            "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"]),
        PolicyRule(verbs: read, apiGroups: ["autoscaling"], resources: ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        PolicyRule(verbs: read, apiGroups: ["batch"], resources: ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        PolicyRule(verbs: read, apiGroups: ["policy"], resources: ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        PolicyRule(verbs: read, apiGroups: ["networking.k8s.io"], resources: ["ingresses", "ingresses/status", "networkpolicies"]),
        PolicyRule(verbs: read, apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"]),
        PolicyRule(verbs: read, apiGroups: ["events.k8s.io"], resources: ["events"]),
        PolicyRule(verbs: read, apiGroups: ["coordination.k8s.io"], resources: ["leases"]),
    ]

    /// What `edit` adds: writes to workloads and their config, secrets, exec/attach/port-forward.
    static let editRules: [PolicyRule] = viewRules + [
        PolicyRule(verbs: ["create"], apiGroups: [""], resources: ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "pods/eviction", "serviceaccounts/token"]),
        PolicyRule(verbs: read + ["create", "delete", "deletecollection", "patch", "update"], apiGroups: [""], resources: ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"]),
        PolicyRule(verbs: write, apiGroups: [""], resources: [
            "configmaps", "events", "persistentvolumeclaims", "pods", "replicationcontrollers", "replicationcontrollers/scale",
            "serviceaccounts", "services", "endpoints"]),
        PolicyRule(verbs: ["impersonate"], apiGroups: [""], resources: ["serviceaccounts"]),
        PolicyRule(verbs: write, apiGroups: ["apps"], resources: [
            "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets", "replicasets/scale",
            "statefulsets", "statefulsets/scale"]),
        PolicyRule(verbs: write, apiGroups: ["autoscaling"], resources: ["horizontalpodautoscalers"]),
        PolicyRule(verbs: write, apiGroups: ["batch"], resources: ["cronjobs", "jobs"]),
        PolicyRule(verbs: write, apiGroups: ["policy"], resources: ["poddisruptionbudgets"]),
        PolicyRule(verbs: write, apiGroups: ["networking.k8s.io"], resources: ["ingresses", "networkpolicies"]),
        PolicyRule(verbs: write, apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"]),
        PolicyRule(verbs: write, apiGroups: ["coordination.k8s.io"], resources: ["leases"]),
    ]

    /// What `admin` adds: the namespace's roles and bindings, local access reviews.
    static let adminRules: [PolicyRule] = editRules + [
        PolicyRule(verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["localsubjectaccessreviews"]),
        PolicyRule(verbs: read + write, apiGroups: ["rbac.authorization.k8s.io"], resources: ["rolebindings", "roles"]),
    ]

    public static let clusterRoles: [(name: String, rules: [PolicyRule])] = [
        ("cluster-admin", [PolicyRule(verbs: ["*"], apiGroups: ["*"], resources: ["*"]), PolicyRule(verbs: ["*"], nonResourceURLs: ["*"])]),
        ("admin", adminRules),
        ("edit", editRules),
        ("view", viewRules),
        ("system:basic-user", [PolicyRule(verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
                               PolicyRule(verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"])]),
        ("system:discovery", [PolicyRule(verbs: ["get"], nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"])]),
        ("system:public-info-viewer", [PolicyRule(verbs: ["get"], nonResourceURLs: ["/healthz", "/livez", "/readyz", "/version", "/version/"])]),
        ("system:monitoring", [PolicyRule(verbs: ["get"], nonResourceURLs: ["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/readyz", "/readyz/*"])]),
        ("system:node-bootstrapper", [PolicyRule(verbs: ["create", "get", "list", "watch"], apiGroups: ["certificates.k8s.io"], resources: ["certificatesigningrequests"])]),
        ("system:certificates.k8s.io:certificatesigningrequests:nodeclient", [PolicyRule(verbs: ["create"], apiGroups: ["certificates.k8s.io"], resources: ["certificatesigningrequests/nodeclient"])]),
        ("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", [PolicyRule(verbs: ["create"], apiGroups: ["certificates.k8s.io"], resources: ["certificatesigningrequests/selfnodeclient"])]),
        ("system:kube-scheduler", [
            PolicyRule(verbs: ["create", "patch", "update"], apiGroups: ["", "events.k8s.io"], resources: ["events"]),
            PolicyRule(verbs: ["create"], apiGroups: ["coordination.k8s.io"], resources: ["leases"]),
            PolicyRule(verbs: ["get", "update"], apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["kube-scheduler"]),
            PolicyRule(verbs: read, apiGroups: [""], resources: ["nodes", "namespaces", "pods", "services", "replicationcontrollers", "persistentvolumeclaims", "persistentvolumes", "configmaps"]),
            PolicyRule(verbs: ["delete"], apiGroups: [""], resources: ["pods"]),
            PolicyRule(verbs: ["create"], apiGroups: [""], resources: ["bindings", "pods/binding"]),
            PolicyRule(verbs: ["patch", "update"], apiGroups: [""], resources: ["pods/status"]),
            PolicyRule(verbs: read, apiGroups: ["apps"], resources: ["replicasets", "statefulsets"]),
            PolicyRule(verbs: read, apiGroups: ["policy"], resources: ["poddisruptionbudgets"]),
            PolicyRule(verbs: read, apiGroups: ["scheduling.k8s.io"], resources: ["priorityclasses"]),
            PolicyRule(verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"]),
            PolicyRule(verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"]),
        ]),
        // The controller manager runs every controller under one identity here (no per-controller
        // service accounts yet): it manages the workloads and the cluster's housekeeping objects.
        ("system:kube-controller-manager", [
            PolicyRule(verbs: read + write, apiGroups: ["", "apps", "batch", "autoscaling", "policy", "discovery.k8s.io", "events.k8s.io", "coordination.k8s.io"], resources: ["*"]),
            PolicyRule(verbs: read + ["update", "patch"], apiGroups: ["certificates.k8s.io"], resources: ["certificatesigningrequests", "certificatesigningrequests/approval", "certificatesigningrequests/status"]),
            PolicyRule(verbs: ["approve", "sign"], apiGroups: ["certificates.k8s.io"], resources: ["signers"]),
            PolicyRule(verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"]),
            PolicyRule(verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"]),
        ]),
    ]

    public static let clusterRoleBindings: [RoleBinding] = [
        RoleBinding(name: "cluster-admin", roleRef: RoleRef(kind: "ClusterRole", name: "cluster-admin"), subjects: [Subject(kind: "Group", name: "system:masters")]),
        RoleBinding(name: "system:basic-user", roleRef: RoleRef(kind: "ClusterRole", name: "system:basic-user"), subjects: [Subject(kind: "Group", name: "system:authenticated")]),
        RoleBinding(name: "system:discovery", roleRef: RoleRef(kind: "ClusterRole", name: "system:discovery"), subjects: [Subject(kind: "Group", name: "system:authenticated")]),
        RoleBinding(name: "system:public-info-viewer", roleRef: RoleRef(kind: "ClusterRole", name: "system:public-info-viewer"),
                    subjects: [Subject(kind: "Group", name: "system:authenticated"), Subject(kind: "Group", name: "system:unauthenticated")]),
        RoleBinding(name: "system:monitoring", roleRef: RoleRef(kind: "ClusterRole", name: "system:monitoring"), subjects: [Subject(kind: "Group", name: "system:monitoring")]),
        RoleBinding(name: "system:kube-scheduler", roleRef: RoleRef(kind: "ClusterRole", name: "system:kube-scheduler"), subjects: [Subject(kind: "User", name: "system:kube-scheduler")]),
        RoleBinding(name: "system:kube-controller-manager", roleRef: RoleRef(kind: "ClusterRole", name: "system:kube-controller-manager"), subjects: [Subject(kind: "User", name: "system:kube-controller-manager")]),
        // what kubeadm binds for TLS bootstrap: joining nodes may file CSRs, which are approved automatically
        RoleBinding(name: "kubeadm:kubelet-bootstrap", roleRef: RoleRef(kind: "ClusterRole", name: "system:node-bootstrapper"), subjects: [Subject(kind: "Group", name: "system:bootstrappers")]),
        RoleBinding(name: "kubeadm:node-autoapprove-bootstrap", roleRef: RoleRef(kind: "ClusterRole", name: "system:certificates.k8s.io:certificatesigningrequests:nodeclient"),
                    subjects: [Subject(kind: "Group", name: "system:bootstrappers")]),
        RoleBinding(name: "kubeadm:node-autoapprove-certificate-rotation", roleRef: RoleRef(kind: "ClusterRole", name: "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"),
                    subjects: [Subject(kind: "Group", name: "system:nodes")]),
    ]
}
