namespace Mmrag.Threading;

/// <summary>Tasks a caller stops waiting for (a time limit, a failure elsewhere) while they may still fail.</summary>
public static class AbandonedTasks
{
    /// <summary>
    /// Observes <paramref name="task"/>'s failure, should it come, so that it is not reported as an unobserved task
    /// exception; the caller has already decided what the outcome is without it.
    /// </summary>
    public static void Abandon(this Task task)
    {
        ArgumentNullException.ThrowIfNull(task);
        _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }
}
