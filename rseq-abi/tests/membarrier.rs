//! The membarrier rseq fence against the real kernel.

use rseq_abi::sys::{membarrier, MembarrierCommand, MembarrierQuery};
use rseq_abi::{membarrier as fence, Errno};
use rseq_testkit::child::{in_child, Env};

#[test]
fn fence_registers_first() {
    in_child("fence_registers_first", Env::GlibcDefault, || {
        let supported = fence::supported_commands().unwrap();
        assert!(supported.contains(MembarrierQuery::PRIVATE_EXPEDITED_RSEQ));
        assert!(supported.contains(MembarrierQuery::REGISTER_PRIVATE_EXPEDITED_RSEQ));
        assert!(supported.supports(MembarrierCommand::PrivateExpeditedRseq));
        // Without the registration the kernel refuses the fence.
        assert_eq!(
            membarrier(MembarrierCommand::PrivateExpeditedRseq),
            Err(Errno::EPERM)
        );
        assert_eq!(fence::rseq_fence(), Ok(()));
        for cpu in rseq_testkit::allowed_cpus() {
            assert_eq!(fence::rseq_fence_cpu(cpu as u32), Ok(()));
        }
        // The kernel ignores a CPU that is not possible.
        assert_eq!(fence::rseq_fence_cpu(1 << 20), Ok(()));
        assert_eq!(fence::rseq_fence_cpu(u32::MAX), Err(Errno::EINVAL));
        assert_eq!(fence::register_rseq_fence(), Ok(()));
    });
}
